"""Fixtures of the recovery and account tests: a family whose parent and pupils have
active accounts, the outbox, a back-channel receiver, and browser helpers.

Messages of the recovery pages go out once the response has been sent (`call_on_close`):
`submit` reads whole responses (buffered), as a server does before closing them, so that
the outbox holds them when the next line of a test looks.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from idp.directory import family as family_service
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.models import Flow
from idp.models.base import utcnow
from idp.services.secrets import token_hash
from tests.activation.conftest import family  # noqa: F401 - fixture
from tests.activation.conftest import outbox  # noqa: F401 - fixture
from tests.oauth.conftest import backchannel  # noqa: F401 - fixture

PASSWORD = "Correct-Horse-42"
NEW_PASSWORD = "Lune-Verte-Tortue-9"


@pytest.fixture
def make_parent(app, family):  # noqa: F811 - the imported fixture
    """Factory: the family's mother with an active account, her verified mobile, her
    children confirmed; primary=("Malo",) puts those children at primary school."""

    def factory(password=PASSWORD, phone=True, primary=()):
        with app.app_context():
            identity = db.session.execute(
                select(ParentIdentity).where(ParentIdentity.key.endswith(family["e164"]))
            ).scalar_one()
            account = family_service.create_parent_account(identity)
            account.password_hash = app.extensions["idp"].passwords.hash(password) \
                if password else None
            account.status = "active"
            if phone:
                account.phone_number = family["e164"]
                account.phone_number_verified = True
            family_service.link_parent_account(account, identity)
            for name, pupil_id in family["pupils"].items():
                pupil = db.session.get(Pupil, pupil_id)
                if name in primary:
                    pupil.degree = "1d"
                family_service.confirm_child(account, pupil)
            db.session.commit()
            return {"identifier": account.identifier, "password": password, "id": account.id,
                    "phone": family["e164"]}

    return factory


@pytest.fixture
def make_pupil(app, family):  # noqa: F811 - the imported fixture
    """Factory: one of the family's pupils with an activated account and, unless
    email=None, a confirmed e-mail address."""

    def factory(name="Enora", password=PASSWORD, email="enora@example.org", verified=True):
        with app.app_context():
            account = db.session.get(Account, family["pupil_accounts"][name])
            account.password_hash = app.extensions["idp"].passwords.hash(password)
            account.status = "active"
            account.provisional_expires_at = None
            account.email = email
            account.email_verified = bool(email) and verified
            db.session.commit()
            return {"identifier": account.identifier, "password": password, "id": account.id,
                    "email": email}

    return factory


def submit(browser, response_or_url, data, form=0):
    """GET a page (or follow a redirect), then POST its form (the first, or the one whose
    action ends with `form`) with its hidden fields, reading the whole response."""
    url = response_or_url if isinstance(response_or_url, str) else \
        response_or_url.headers["Location"]
    url = url.replace("http://localhost", "")
    page = browser.get(url)
    assert page.status_code == 200, page.text[:500]
    forms = re.findall(r'<form method="post"(?: action="([^"]*)")?[^>]*>(.*?)</form>',
                       page.text, re.S)
    assert forms, f"no form in {url}"
    action, body = forms[form] if isinstance(form, int) else \
        next(f for f in forms if f[0].endswith(form))
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    fields.update(data)
    return browser.post(action or url.split("?")[0], data=fields, buffered=True)


def login(browser, identifier, password):
    """Log in on the login page; return the response (a redirect when it worked)."""
    return submit(browser, "/login", {"identifier": identifier, "password": password})


def events(app, name=None) -> list[AuditEvent]:
    """The audit trail, oldest first (of one event name when given)."""
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if name:
            query = query.where(AuditEvent.event == name)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return rows


def account_row(app, account_id) -> Account:
    """A fresh copy of an account row."""
    with app.app_context():
        row = db.session.get(Account, account_id)
        db.session.expunge(row)
        return row


def expire_flow(app, token, ttl):
    """Check that a flow lives ttl seconds, then make it expire (Redis or database)."""
    provider = app.extensions["idp"]
    with app.app_context():
        if provider.redis is not None:
            key = f"{app.config['REDIS_PREFIX']}flow:{token_hash(token)}"
            assert ttl - 5 <= provider.redis.ttl(key) <= ttl
            provider.redis.delete(key)
            return
        row = db.session.get(Flow, token_hash(token))
        left = (row.expires_at - utcnow()).total_seconds()
        assert ttl - 5 <= left <= ttl
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def link_in(message) -> str:
    """The path of the first link of this site in a message."""
    return re.search(r"http://localhost(/\S+)", message["body"]).group(1)


__all__ = ["NEW_PASSWORD", "PASSWORD", "account_row", "events", "expire_flow", "link_in",
           "login", "submit"]
