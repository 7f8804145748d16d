"""The fictitious sample directory of examples/data, for `idp demo load`."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask import has_app_context
from sqlalchemy import select

from idp.directory import family
from idp.directory import importer
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.extensions import db
from idp.models import Account
from idp.services import accounts as account_service

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "data"
SCHOOLS = {
    # UAI: (format, name shown to services)
    "0830901D": ("siecle", "Collège des Oliviers"),
    "0130902K": ("siecle", "Lycée Les Calanques"),
    "0061903L": ("onde", "École élémentaire Les Mimosas"),
}
# Sophie ROUX (usage name LEGRAND) has a child in each school, in two académies.
DEMO_PARENT = "siecle:0830901D:2001"
DEMO_PUPIL_INE = "120000001AB"  # Jade LEGRAND, collège des Oliviers


def _import() -> list[importer.FileReport]:
    reports = importer.import_files([EXAMPLES / "siecle" / "Nomenclature.xml"], "siecle")
    for uai, (fmt, name) in SCHOOLS.items():
        files = sorted((EXAMPLES / fmt / uai).iterdir())
        reports += importer.import_files(files, fmt, uai=uai, school_name=name)
    return reports


def _activate(passwords, account: Account, password: str) -> None:
    if account.status != "active":
        account_service.set_password(passwords, account, password)
        account.status = "active"


def _demo_family(app, password: str) -> dict:
    """Give the demo mother an account with her three children confirmed, and Jade one."""
    identity = db.session.execute(
        select(ParentIdentity).join(Representative)
        .where(Representative.source_key == DEMO_PARENT)
    ).scalar_one()
    parent = (db.session.get(Account, identity.account_id) if identity.account_id
              else family.create_parent_account(identity))
    family.link_parent_account(parent, identity)
    for pupil, state in family.proposed_children(parent):
        if state == "proposed":
            family.confirm_child(parent, pupil)
    pupil_account = db.session.get(Account, db.session.execute(
        select(Pupil.account_id).where(Pupil.ine == DEMO_PUPIL_INE)
    ).scalar_one())
    passwords = app.extensions["idp"].passwords
    _activate(passwords, parent, password)
    _activate(passwords, pupil_account, password)
    db.session.commit()
    return {"parent": parent.identifier, "pupil": pupil_account.identifier}


def load_examples(app, password: str | None = None) -> dict:
    """Import the sample files (idempotent); with a password, activate the demo family.

    Runs in the current application context when there is one for `app`.
    """
    if has_app_context() and current_app._get_current_object() is app:
        return _load(app, password)
    with app.app_context():
        return _load(app, password)


def _load(app, password: str | None) -> dict:
    reports = _import()
    result = {
        "files": [r.as_dict() for r in reports],
        "created": sum(r.created for r in reports),
        "refused": [r.error for r in reports if r.error],
    }
    if password:
        result["accounts"] = _demo_family(app, password)
    return result
