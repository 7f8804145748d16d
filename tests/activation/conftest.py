"""Fixtures of the activation tests: a family in the directory, the SMS outbox."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from idp.directory import importer
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from tests.conftest import csrf_from
from tests.directory import builders

UAI = "0830901D"
PROVISIONAL = "Prov-Isoire-2026"


@pytest.fixture
def family(app, tmp_path):
    """Two siblings at a collège and their mother, imported from SIECLE files."""
    pupils = [builders.pupil("1", "123456789AB", "DURAND", "Enora", "14/03/2012"),
              builders.pupil("2", "223456789AB", "DURAND", "Malo", "02/09/2013",
                             division="6B")]
    people = [builders.person("10", "LEGRAND", "Claire", "06 12 34 56 78", "MME",
                              usage="DURAND")]
    eleves = tmp_path / "ElevesSansAdresses.xml"
    eleves.write_bytes(builders.eleves_xml(pupils).encode("iso-8859-15"))
    resp = tmp_path / "ResponsablesSansAdresses.xml"
    resp.write_bytes(builders.responsables_xml(people, [("1", "10", 1), ("2", "10", 1)])
                     .encode("iso-8859-15"))
    with app.app_context():
        reports = importer.import_files([str(eleves), str(resp)], "siecle")
        assert [r.error for r in reports if r.error] == []
        rows = db.session.execute(select(Pupil).order_by(Pupil.ine)).scalars().all()
        ids = {p.given_name: p.id for p in rows}
        accounts = {p.given_name: p.account_id for p in rows}
    return {"pupils": ids, "pupil_accounts": accounts, "mobile": "06 12 34 56 78",
            "e164": "+33612345678", "given_name": "Claire", "birth_name": "LEGRAND",
            "usage_name": "DURAND", "birthdates": {"Enora": "14/03/2012", "Malo": "02/09/2013"}}


@pytest.fixture
def outbox(app):
    """Read the messages the outbox backend wrote."""
    directory = Path(app.config["VAR_DIR"]) / "outbox"

    class Outbox:
        def all(self):
            if not directory.exists():
                return []
            return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]

        def last_code(self, to):
            sms = [m for m in self.all() if m["channel"] == "sms" and m["to"] == to]
            assert sms, f"no SMS to {to}"
            return re.search(r"\b(\d{6})\b", sms[-1]["body"]).group(1)

        def clear(self):
            for path in directory.glob("*.json"):
                path.unlink()

    box = Outbox()
    box.clear()
    yield box
    box.clear()


@pytest.fixture
def provisional(app):
    """Give an account a provisional password, as a school's distribution does."""

    def give(account_id, password=PROVISIONAL, days=90):
        with app.app_context():
            account = db.session.get(Account, account_id)
            account.password_hash = app.extensions["idp"].passwords.hash(password)
            account.status = "provisional"
            account.provisional_expires_at = utcnow() + timedelta(days=days)
            db.session.commit()
            return account.identifier

    return give


def submit(browser, response_or_url, data):
    """GET a page (or follow a redirect), then POST its form with the CSRF token."""
    url = response_or_url if isinstance(response_or_url, str) else \
        response_or_url.headers["Location"]
    page = browser.get(url)
    assert page.status_code == 200, page.text[:500]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields.update(data)
    action = re.search(r'<form method="post"(?: action="([^"]*)")?', page.text)
    target = action.group(1) if action and action.group(1) else url.split("?")[0]
    # Buffered: read whole, as a server does before closing (messages sent then).
    return browser.post(target, data=fields, buffered=True)


def parent_identity(app, e164):
    """The parent identity grouped under this mobile."""
    with app.app_context():
        return db.session.execute(
            select(ParentIdentity).where(ParentIdentity.key.endswith(e164))
        ).scalar_one()


def summary(page) -> list[tuple[str, str]]:
    """The error summary's links: (href, text), in order."""
    found = re.search(r'<div class="fr-alert fr-alert--error[^"]*" id="error-summary"(.*?)</div>',
                      page.text, re.S)
    if not found:
        return []
    return [(href, html.unescape(text))
            for href, text in re.findall(r'<a href="([^"]+)">([^<]*)</a>', found.group(1))]


def title(page) -> str:
    """The page's <title>."""
    return html.unescape(re.search(r"<title>(.*?)</title>", page.text, re.S).group(1))


def field(page, name) -> str:
    """The <input> tag of a field."""
    return re.search(rf'<input [^>]*id="{re.escape(name)}"[^>]*>', page.text).group(0)


def notices(page) -> list[tuple[str, str, str]]:
    """The DSFR alerts other than the error summary: (level, role, text)."""
    return [(level, role, html.unescape(re.sub(r"<[^>]+>", "", body)).strip())
            for level, role, body in re.findall(
                r'<div class="fr-alert fr-alert--(\w+) fr-alert--sm[^"]*" role="(\w+)">(.*?)</div>',
                page.text, re.S)]


def flow_of(location: str) -> str:
    """The activation flow id (f=) of a step's address."""
    return re.search(r"[?&]f=([^&]+)", location).group(1)


__all__ = ["csrf_from", "field", "flow_of", "notices", "parent_identity", "submit", "summary",
           "title"]
