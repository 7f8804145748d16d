"""Steps shared by the FranceConnect tests."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent
from idp.models import FederatedIdentity
from tests.activation.conftest import submit
from tests.conftest import csrf_from

LINK = "/federation/franceconnect/lier"
# testfc1 at the simulator: Stéphane Louis Perceval DUPONT.
STEPHANE = {"given_name": "Stéphane", "family_name": "Dupont"}


def claims_of(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def csrf(user):
    """This browser's CSRF token (the same on every page)."""
    return csrf_from(user.browser.get("/login").text)


def password_login(user, person):
    """Log in on our login page with the account's password."""
    response = user.browser.post("/login", data={"csrf_token": csrf(user),
                                                 "identifier": person["identifier"],
                                                 "password": person["password"]})
    assert response.status_code == 302, response.text[:300]


def start_link(user, password):
    """The account page's "Lier mon identité FranceConnect": its form, then posted."""
    page = user.browser.get(LINK)
    data = {"csrf_token": csrf(user)}
    if password is not None:
        data["current_password"] = password
    return page, user.browser.post(LINK, data=data)


def link(user, person):
    """Link the user's FranceConnect identity to the logged-in account; our answer."""
    _, start = start_link(user, person["password"])
    assert start.status_code == 302, start.text[:300]
    return user.back(user.authenticate_upstream(start.headers["Location"]))


def identify(user, response, family, outbox):
    """The first-login identification: mobile, SMS code, children."""
    assert "/federation/franceconnect/identification" in response.headers["Location"]
    code_step = submit(user.browser, response, {"mobile": family["mobile"]})
    assert code_step.status_code == 302, code_step.text[:300]
    children = submit(user.browser, code_step, {"code": outbox.last_code(family["e164"])})
    answers = {f"birthdate-{pid}": family["birthdates"][name]
               for name, pid in family["pupils"].items()}
    return submit(user.browser, children, answers)


def links(app):
    with app.app_context():
        return [(row.account_id, row.subject) for row in
                db.session.execute(select(FederatedIdentity)).scalars()]


def events(app, name):
    with app.app_context():
        return db.session.execute(
            select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        ).scalars().all()
