"""Families: grouping representative records into one parent, and parents' children.

Matching rule ("rapprochement de la fratrie"): two representative records, from any
school or académie, belong to the same parent when their birth name, first name and
mobile number are the same once accents, case, spaces, hyphens and punctuation are
ignored and the number is written in E.164. Records without a mobile are never
grouped. The grouping is a proposal: a parent's account is attached to it at
activation (`link_parent_account`), and each proposed child is confirmed or refused
by the parent (`confirm_child`, `refuse_child`); only confirmed children are released
to relying services.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.directory import identifiers
from idp.directory.models import ChildConfirmation
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.normalise import name_key
from idp.directory.normalise import phone_e164
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.services import accounts as account_service
from idp.services import audit


class FamilyError(ValueError):
    """A family action that the directory does not support (no legal link, taken...)."""


def identity_key(birth_name: str, given_name: str, mobile: str | None) -> str | None:
    """Return the matching key of a representative, or None without a usable mobile."""
    number = phone_e164(mobile)
    birth, given = name_key(birth_name), name_key(given_name)
    if not (number and birth and given):
        return None
    return f"{birth}|{given}|{number}"


def solo_key(source_key: str) -> str:
    """The key of a representative who cannot be grouped (no mobile): their own."""
    return f"solo:{source_key}"


def find_identity(birth_name: str, given_name: str, mobile: str) -> ParentIdentity | None:
    """Return the parent identity matching these details (auto-inscription), if any."""
    key = identity_key(birth_name, given_name, mobile)
    if key is None:
        return None
    return db.session.execute(
        select(ParentIdentity).where(ParentIdentity.key == key)
    ).scalar_one_or_none()


def identities_of(account: Account) -> list[ParentIdentity]:
    """The parent identities attached to an account."""
    return list(db.session.execute(
        select(ParentIdentity).where(ParentIdentity.account_id == account.id)
    ).scalars())


def name_keys(account: Account) -> tuple[set[str], set[str]]:
    """The account's family names and given names as `name_key`s: its own, and those of
    the school records grouped under it (birth and usage names)."""
    families, givens = {name_key(account.family_name)}, {name_key(account.given_name)}
    records = db.session.execute(
        select(Representative)
        .join(ParentIdentity, ParentIdentity.id == Representative.identity_id)
        .where(ParentIdentity.account_id == account.id)
    ).scalars()
    for record in records:
        families |= {name_key(record.birth_name), name_key(record.usage_name)}
        givens.add(name_key(record.given_name))
    return families - {""}, givens - {""}


def link_parent_account(account: Account, identity: ParentIdentity) -> None:
    """Attach a parent's account to a grouping and record that they confirmed it."""
    if account.role != "responsable":
        raise FamilyError("only a responsable account can be a parent")
    if identity.account_id not in (None, account.id):
        raise FamilyError("this parent identity already belongs to another account")
    if identity.account_id == account.id and identity.confirmed_at is not None:
        return
    identity.account_id = account.id
    identity.confirmed_at = identity.confirmed_at or utcnow()
    db.session.flush()
    audit.record("family.identity_linked", account=account, identity_id=identity.id)


def create_parent_account(identity: ParentIdentity) -> Account:
    """Create a provisional responsable account for a grouping, named after its records.

    Contact details are left for the activation, which verifies them.
    """
    if identity.account_id is not None:
        raise FamilyError("this parent identity already has an account")
    record = db.session.execute(
        select(Representative).where(Representative.identity_id == identity.id)
        .order_by(Representative.updated_at.desc(), Representative.id.desc()).limit(1)
    ).scalar_one_or_none()
    if record is None:
        raise FamilyError("this parent identity has no representative record")
    family_name = record.usage_name or record.birth_name
    identifier = identifiers.issue(record.given_name, family_name)
    account = account_service.create(
        None, identifier=identifier, password=None, role="responsable", status="provisional",
        given_name=record.given_name, family_name=family_name,
    )
    identifiers.record_issued(db.session.connection(), [(identifier, account.id)])
    identity.account_id = account.id
    db.session.flush()
    return account


def _linked_pupils_query(account_id: int):
    return (
        select(Pupil)
        .join(RepresentativeLink, RepresentativeLink.pupil_id == Pupil.id)
        .join(Representative, Representative.id == RepresentativeLink.representative_id)
        .join(ParentIdentity, ParentIdentity.id == Representative.identity_id)
        .where(ParentIdentity.account_id == account_id)
        .distinct()
    )


def proposed_children(account: Account) -> list[tuple[Pupil, str]]:
    """The pupils this parent is a legal representative of, with their state.

    The state is "confirmed", "refused" or "proposed"; pupils who left are not listed.
    """
    pupils = db.session.execute(
        _linked_pupils_query(account.id).where(Pupil.left_at.is_(None))
        .order_by(Pupil.birthdate, Pupil.id)
    ).scalars().all()
    answers = {
        c.pupil_id: c for c in db.session.execute(
            select(ChildConfirmation).where(ChildConfirmation.account_id == account.id)
        ).scalars()
    }
    result = []
    for pupil in pupils:
        answer = answers.get(pupil.id)
        if answer is not None and answer.refused_at is not None:
            state = "refused"
        elif answer is not None and answer.confirmed_at is not None:
            state = "confirmed"
        else:
            state = "proposed"
        result.append((pupil, state))
    return result


def _answer(account: Account, pupil: Pupil) -> ChildConfirmation:
    linked = db.session.execute(
        _linked_pupils_query(account.id).where(Pupil.id == pupil.id)
    ).first()
    if linked is None:
        raise FamilyError("this pupil is not linked to this parent by any school file")
    answer = db.session.execute(
        select(ChildConfirmation).where(
            ChildConfirmation.account_id == account.id, ChildConfirmation.pupil_id == pupil.id
        )
    ).scalar_one_or_none()
    if answer is None:
        answer = ChildConfirmation(account_id=account.id, pupil_id=pupil.id)
        db.session.add(answer)
    return answer


def confirm_child(parent_account: Account, pupil: Pupil) -> ChildConfirmation:
    """Record that the parent confirms this proposed child (released in `children`)."""
    answer = _answer(parent_account, pupil)
    answer.confirmed_at = utcnow()
    answer.refused_at = None
    db.session.flush()
    audit.record("family.child_confirmed", account=parent_account, pupil_id=pupil.id)
    return answer


def refuse_child(parent_account: Account, pupil: Pupil) -> ChildConfirmation:
    """Record "I am not this pupil's legal representative": never proposed or released."""
    answer = _answer(parent_account, pupil)
    answer.refused_at = utcnow()
    answer.confirmed_at = None
    db.session.flush()
    audit.record("family.child_refused", account=parent_account, pupil_id=pupil.id)
    return answer
