"""Fixtures of the directory tests: sample files, importing them, activated accounts.

Until the application wires the directory in (claims registration, models import),
this conftest does it, the same way the application will.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import idp.directory.models  # noqa: F401 - the tables join the metadata the cleanup uses
from idp.cli import Context
from idp.directory import claims as directory_claims
from idp.directory import importer
from idp.directory.cli import directory
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.extensions import db
from idp.models import Account
from idp.services import accounts as account_service

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
COLLEGE, LYCEE, ECOLE = "0830901D", "0130902K", "0061903L"
PASSWORD = "Correct-Horse-42"


@pytest.fixture(scope="session", autouse=True)
def _directory_claims():
    directory_claims.register()


def siecle_files(year: str = "") -> list[Path]:
    """The SIECLE sample files of the current year, or of next-year."""
    base = EXAMPLES / year / "siecle" if year else EXAMPLES / "siecle"
    files = sorted(base.glob("*/*.xml"))
    if not year:
        files.insert(0, base / "Nomenclature.xml")
    return files


def onde_files(year: str = "") -> list[Path]:
    """The ONDE sample files of the current year, or of next-year."""
    base = EXAMPLES / year / "onde" if year else EXAMPLES / "onde"
    return sorted(base.glob(f"{ECOLE}/*.csv"))


@pytest.fixture
def run_import(app):
    """Import files in the app's context; returns the file reports (asserting none refused
    unless refused_ok)."""

    def run(files, fmt="siecle", refused_ok=False, **options):
        with app.app_context():
            reports = importer.import_files([str(f) for f in files], fmt, **options)
        if not refused_ok:
            assert [r.error for r in reports if r.error] == []
        return reports

    return run


@pytest.fixture
def examples_imported(run_import):
    """The whole sample directory of the current year: two académies, three schools."""
    siecle = run_import(siecle_files())
    onde = run_import(onde_files(), fmt="onde", uai=ECOLE,
                      school_name="École élémentaire Les Mimosas")
    return siecle + onde


@pytest.fixture
def activate(app):
    """Give an account a password and make it active, as the activation will."""

    def run(account_id: int) -> dict:
        with app.app_context():
            account = db.session.get(Account, account_id)
            account_service.set_password(app.extensions["idp"].passwords, account, PASSWORD)
            account.status = "active"
            db.session.commit()
            return {"identifier": account.identifier, "password": PASSWORD, "id": account.id,
                    "public_id": account.public_id}

    return run


@pytest.fixture
def pupil_account(app):
    """The account id of the pupil with an INE."""

    def find(ine: str) -> int:
        with app.app_context():
            return db.session.execute(
                select(Pupil.account_id).where(Pupil.ine == ine)
            ).scalar_one()

    return find


@pytest.fixture
def representative(app):
    """Find a representative record by its source key."""

    def find(source_key: str) -> Representative:
        with app.app_context():
            rep = db.session.execute(
                select(Representative).where(Representative.source_key == source_key)
            ).scalar_one()
            db.session.expunge(rep)
            return rep

    return find


@pytest.fixture
def idp_directory(app):
    """Run `idp [--json] directory ...` in-process against the test application."""

    def run(*args, as_json=True):
        obj = Context(as_json)
        obj._app = app
        result = CliRunner().invoke(directory, list(args), obj=obj, catch_exceptions=False)
        data = json.loads(result.output) if as_json and result.output.startswith("{") else None
        return result, data

    return run
