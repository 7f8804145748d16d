"""Read-side lookups for the claims: a pupil's schooling, a parent's confirmed children.

One query each, with Core, because they run on every UserInfo request.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import bindparam
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

pupils = Pupil.__table__
schools = School.__table__
academies = Academie.__table__
identities = ParentIdentity.__table__
representatives = Representative.__table__
links = RepresentativeLink.__table__
confirmations = ChildConfirmation.__table__
accounts = Account.__table__


class Schooling(NamedTuple):
    """Where a pupil is schooled now (school fields are None once they left)."""

    ine: str
    degree: str
    division: str | None
    mefstat4: str | None
    level_label: str | None
    left: bool
    school_uai: str | None
    school_name: str | None
    academie: str | None


class Child(NamedTuple):
    """A confirmed child of a parent, as released to relying services."""

    public_id: str
    ine: str
    given_name: str
    family_name: str
    birthdate: date | None
    degree: str
    mefstat4: str | None
    level_label: str | None
    school_uai: str | None
    school_name: str | None


_SCHOOLING = (
    select(
        pupils.c.ine, pupils.c.degree, pupils.c.division, pupils.c.mefstat4,
        pupils.c.level_label, pupils.c.left_at, schools.c.uai, schools.c.name, academies.c.code,
    )
    .select_from(pupils)
    .outerjoin(schools, schools.c.id == pupils.c.school_id)
    .outerjoin(academies, academies.c.id == schools.c.academie_id)
)

# The parent's confirmed children who are still at school and still linked to the
# parent by a school record. Written from the parent's confirmations (one index range)
# with the link as an EXISTS: PostgreSQL plans this in a fraction of the time a join of
# all seven tables takes, and UserInfo runs it for every parent.
_STILL_LINKED = (
    select(links.c.id)
    .join(representatives, representatives.c.id == links.c.representative_id)
    .join(identities, identities.c.id == representatives.c.identity_id)
    .where(links.c.pupil_id == pupils.c.id,
           identities.c.account_id == bindparam("account_id"))
    .exists()
)
_CHILDREN_OF = (
    select(
        accounts.c.public_id, pupils.c.ine, pupils.c.given_name, pupils.c.family_name,
        pupils.c.usage_name, pupils.c.birthdate, pupils.c.degree, pupils.c.mefstat4,
        pupils.c.level_label, schools.c.uai, schools.c.name, pupils.c.id,
    )
    .select_from(confirmations)
    .join(pupils, pupils.c.id == confirmations.c.pupil_id)
    .join(accounts, accounts.c.id == pupils.c.account_id)
    .outerjoin(schools, schools.c.id == pupils.c.school_id)
    .where(
        confirmations.c.account_id == bindparam("account_id"),
        confirmations.c.confirmed_at.is_not(None),
        confirmations.c.refused_at.is_(None),
        pupils.c.left_at.is_(None),
        _STILL_LINKED,
    )
)

# Built once for the UserInfo path (no statement building and keying per request).
_SCHOOLING_OF = _SCHOOLING.where(pupils.c.account_id == bindparam("account_id"))


def schooling_of(account_id: int) -> Schooling | None:
    """Return the schooling of the pupil whose account this is, if it is a pupil's."""
    row = db.session.execute(_SCHOOLING_OF, {"account_id": account_id}).first()
    if row is None:
        return None
    ine, degree, division, mefstat4, label, left_at, uai, name, academie = row
    if left_at is not None:
        return Schooling(ine, degree, None, None, None, True, None, None, None)
    return Schooling(ine, degree, division, mefstat4, label, False, uai, name or None, academie)


def children_of(account_id: int) -> list[Child]:
    """Return the confirmed children of a parent's account, eldest first."""
    rows = db.session.execute(_CHILDREN_OF, {"account_id": account_id}).all()
    children = [
        Child(public_id, ine, given, usage or family, birthdate, degree, mefstat4, label, uai,
              name or None)
        for (public_id, ine, given, family, usage, birthdate, degree, mefstat4, label, uai,
             name, _) in rows
    ]
    children.sort(key=lambda c: (c.birthdate or date.max, c.given_name))
    return children
