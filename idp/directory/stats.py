"""Counts that tell an operator what the directory holds."""

from __future__ import annotations

from sqlalchemy import distinct
from sqlalchemy import func
from sqlalchemy import select

from idp.directory.models import Academie
from idp.directory.models import ChildConfirmation
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account


def _count(query) -> int:
    return db.session.execute(query).scalar_one()


def collect() -> dict:
    """Return the directory's counts as a JSON-ready dict."""
    pupils = {
        f"{degree}_{'left' if left else 'present'}": n
        for degree, left, n in db.session.execute(
            select(Pupil.degree, Pupil.left_at.is_not(None), func.count())
            .group_by(Pupil.degree, Pupil.left_at.is_not(None))
        )
    }
    accounts = dict(db.session.execute(
        select(Account.status, func.count()).join(Pupil, Pupil.account_id == Account.id)
        .group_by(Account.status)
    ).all())
    grouped = (
        select(Representative.identity_id)
        .group_by(Representative.identity_id)
        .having(func.count() > 1)
        .subquery()
    )
    across = (
        select(Representative.identity_id)
        .join(School, School.id == Representative.school_id)
        .group_by(Representative.identity_id)
        .having(func.count(distinct(School.academie_id)) > 1)
        .subquery()
    )
    return {
        "academies": _count(select(func.count()).select_from(Academie)),
        "schools": _count(select(func.count()).select_from(School)),
        "pupils": pupils,
        "pupil_accounts": accounts,
        "representatives": _count(select(func.count()).select_from(Representative)),
        "legal_links": _count(select(func.count()).select_from(RepresentativeLink)),
        "parent_identities": _count(select(func.count()).select_from(ParentIdentity)),
        "identities_grouping_several_records": _count(
            select(func.count()).select_from(grouped)
        ),
        "identities_across_academies": _count(select(func.count()).select_from(across)),
        "identities_with_account": _count(
            select(func.count()).select_from(ParentIdentity)
            .where(ParentIdentity.account_id.is_not(None))
        ),
        "children_confirmed": _count(
            select(func.count()).select_from(ChildConfirmation)
            .where(ChildConfirmation.confirmed_at.is_not(None))
        ),
    }
