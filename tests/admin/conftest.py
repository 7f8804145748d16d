"""Fixtures of the console tests: a small school directory built row by row, school
account administrators with their TOTP seed, and a console login driver.

Until the application registers the console, this conftest does it, the same way the
application will.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from datetime import date

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

import idp.directory.models  # noqa: F401 - the tables join the metadata the cleanup uses
from idp.admin import totp
from idp.directory import family
from idp.directory.models import ChildConfirmation
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account
from idp.models import AdminScope
from idp.models.base import utcnow
from idp.services import accounts as account_service
from tests.conftest import csrf_from

COLLEGE, LYCEE = "0830901D", "0130902K"
ADMIN_PASSWORD = "Admin-Console-2026"
PASSWORD = "Correct-Horse-42"
_numbers = itertools.count(100000001)


@pytest.fixture(scope="session", autouse=True)
def _console_registered(app):
    if "admin" not in app.blueprints:
        if app._got_first_request:
            pytest.fail("register idp.admin.views.bp in idp.app.create_app: the session "
                        "app has served requests, so these tests cannot register it")
        from idp.admin.views import bp

        app.register_blueprint(bp)


@dataclass
class Person:
    """Ids and identifier of a pupil or parent built by the `school` fixture."""

    account_id: int | None
    identifier: str | None
    public_id: str | None
    pupil_id: int | None = None
    identity_id: int | None = None


class Directory:
    """Builds schools, pupils and parents directly in the directory tables."""

    def __init__(self, app):
        self.app = app

    @property
    def passwords(self):
        return self.app.extensions["idp"].passwords

    def school(self, uai=COLLEGE, name="Collège Jean Moulin") -> int:
        with self.app.app_context():
            row = School(uai=uai, name=name, degree="2d")
            db.session.add(row)
            db.session.commit()
            return row.id

    def pupil(self, school_id, given="Jean", family_name="MARTIN", division="3A",
              born=date(2011, 5, 4), state="none", left=False) -> Person:
        """A pupil with a provisional account; state none, provisional or active."""
        with self.app.app_context():
            number = next(_numbers)
            account = account_service.create(
                None, identifier=f"{given[0].lower()}.{family_name.lower()}{number}",
                password=None, role="eleve", status="provisional", given_name=given,
                family_name=family_name, birthdate=born,
            )
            self._set_state(account, state)
            pupil = Pupil(ine=f"{number:09d}AB", account_id=account.id, school_id=school_id,
                          family_name=family_name, given_name=given, birthdate=born,
                          division=division, degree="2d", left_at=utcnow() if left else None)
            db.session.add(pupil)
            db.session.commit()
            return Person(account.id, account.identifier, account.public_id, pupil_id=pupil.id)

    def parent(self, children: list[Person], given="Paul", birth_name="MARTIN",
               state="no_account", mobile=None) -> Person:
        """A legal representative of the children (school of the first), as one parent
        identity; state no_account, none (account, no notice), provisional or active."""
        with self.app.app_context():
            number = next(_numbers)
            first = db.session.get(Pupil, children[0].pupil_id)
            identity = ParentIdentity(key=f"test:{number}")
            db.session.add(identity)
            db.session.flush()
            rep = Representative(source_key=f"test:{first.school.uai}:{number}",
                                 school_id=first.school_id, birth_name=birth_name,
                                 given_name=given, mobile=mobile, identity_id=identity.id)
            db.session.add(rep)
            db.session.flush()
            for child in children:
                db.session.add(RepresentativeLink(representative_id=rep.id,
                                                  pupil_id=child.pupil_id, legal_level=1))
            db.session.flush()
            account = None
            if state != "no_account":
                account = family.create_parent_account(identity)
                self._set_state(account, state)
            db.session.commit()
            return Person(account and account.id, account and account.identifier,
                          account and account.public_id, identity_id=identity.id)

    def _set_state(self, account, state):
        if state == "provisional":
            account.password_hash = self.passwords.hash("OLD-PROV-ISIO")
        elif state == "active":
            account_service.set_password(self.passwords, account, PASSWORD)
            account.status = "active"

    def refuse(self, parent: Person, child: Person):
        """The parent says they are not the child's legal representative."""
        with self.app.app_context():
            account = db.session.get(Account, parent.account_id)
            family.refuse_child(account, db.session.get(Pupil, child.pupil_id))
            db.session.commit()

    def account(self, account_id) -> Account:
        """A detached copy of an account, as it is in the database now."""
        with self.app.app_context():
            account = db.session.get(Account, account_id)
            db.session.expunge(account)
            return account

    def parent_account_id(self, identity_id) -> int | None:
        with self.app.app_context():
            return db.session.execute(
                select(ParentIdentity.account_id).where(ParentIdentity.id == identity_id)
            ).scalar_one()


@pytest.fixture
def directory(app):
    """Builder of directory rows (schools, pupils, parents)."""
    return Directory(app)


@pytest.fixture
def make_admin(app):
    """Factory: an active administrator of some UAIs, with an enrolled TOTP seed."""

    def factory(*uais, identifier=None, with_totp=True):
        identifier = identifier or f"adm.{next(_numbers)}"
        with app.app_context():
            account = account_service.create(
                app.extensions["idp"].passwords, identifier=identifier,
                password=ADMIN_PASSWORD, role="admin", given_name="Claire",
                family_name="PRINCIPALE",
            )
            for uai in uais:
                db.session.add(AdminScope(account_id=account.id, uai=uai))
            seed = totp.enroll(app.config["SECRET_KEY"], account) if with_totp else None
            db.session.commit()
            return {"identifier": identifier, "password": ADMIN_PASSWORD, "seed": seed,
                    "id": account.id}

    return factory


def code_for(seed: str, offset_steps: int = 0) -> str:
    """The TOTP code of a seed now (or a few steps away)."""
    return pyotp.TOTP(seed).at(time.time() + 30 * offset_steps)


def wrong_code(seed: str) -> str:
    """A well-formed code that no step of the window accepts."""
    valid = {code_for(seed, k) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


class Console:
    """Drives the console's login with the test client, as an administrator would."""

    def __init__(self, client):
        self.client = client

    def post_password(self, identifier, password):
        page = self.client.get("/admin/connexion")
        return self.client.post("/admin/connexion", data={
            "csrf_token": csrf_from(page.text), "identifier": identifier,
            "password": password,
        })

    def post_code(self, code):
        page = self.client.get("/admin/connexion/code")
        return self.client.post("/admin/connexion/code", data={
            "csrf_token": csrf_from(page.text), "code": code,
        })

    def login(self, admin, code=None):
        """Both steps; returns the response of the code step."""
        first = self.post_password(admin["identifier"], admin["password"])
        assert first.status_code == 302, first.text[:500]
        assert first.headers["Location"].endswith("/admin/connexion/code")
        return self.post_code(code or code_for(admin["seed"]))

    def post(self, path, **form):
        """A console form, with the CSRF token of this browser."""
        page = self.client.get("/admin/")
        return self.client.post(path, data={"csrf_token": csrf_from(page.text), **form})


@pytest.fixture
def console(client):
    """The console driver on this test's browser."""
    return Console(client)


@pytest.fixture
def logged_in(app, console, make_admin):
    """Factory: a browser logged into the console as an administrator of some UAIs."""

    def factory(*uais):
        admin = make_admin(*uais)
        response = console.login(admin)
        assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
        return admin

    return factory


@pytest.fixture
def cli(app):
    """Run the console's commands in-process against the test application, the way
    `idp --json ...` runs them once registered."""
    import click

    from idp.admin.cli import register
    from idp.cli import Context

    @click.group()
    def main():
        """A stand-in for `idp`."""

    @main.group("accounts")
    def accounts():
        """A stand-in for `idp accounts`."""

    register(main, accounts)

    def run(*args, as_json=True, input=None):
        obj = Context(as_json)
        obj._app = app
        result = CliRunner().invoke(main, list(args), obj=obj, input=input)
        data = json.loads(result.output) if as_json and result.exit_code == 0 else None
        return result, data

    return run


def refused_at(app, parent: Person, child: Person):
    """When the parent refused the child (None if they did not)."""
    with app.app_context():
        return db.session.execute(
            select(ChildConfirmation.refused_at).where(
                ChildConfirmation.account_id == parent.account_id,
                ChildConfirmation.pupil_id == child.pupil_id)
        ).scalar_one_or_none()
