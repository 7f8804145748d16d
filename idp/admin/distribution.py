"""Provisional passwords that schools hand out on printed notices, their reset, and
unlocking accounts.

A provisional password is readable on paper and typed by children: three groups of
four characters from an alphabet without the look-alikes 0/O, 1/I/L and without
lowercase letters. It is stored hashed like any password, and stops working after
`provisional_password_days` (90, a school term). An account that is already active
keeps its password: distributing notices again never undoes an activation.

A parent of pupils in two schools has one account. Each provisional password records
the school whose notice carries it, so that the other school's distribution skips that
parent while the notice still works instead of silently voiding it; the other school's
console warns before its reset button, which stays allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update

from idp.admin import roster
from idp.directory import family
from idp.directory import identifiers
from idp.directory.models import ParentIdentity
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.oauth import logout
from idp.oauth import tokens
from idp.services import accounts as account_service
from idp.services import audit
from idp.services.passwords import PROVISIONAL_ALPHABET
from idp.services.passwords import new_provisional_password

ALPHABET = PROVISIONAL_ALPHABET
ROLES = ("eleve", "responsable")


class DistributionError(ValueError):
    """A distribution, reset or unlock that cannot be done; the message says why."""


def provisional_password() -> str:
    """A new random provisional password, e.g. "K7PX-M3QD-9WHT" (about 59 bits)."""
    return new_provisional_password()


@dataclass
class Notice:
    """What one printed notice says (the password appears nowhere else)."""

    role: str
    given_name: str
    family_name: str
    division: str | None
    identifier: str
    password: str
    expires_at: datetime
    school_name: str
    uai: str
    # Parents: "Jean MARTIN (3A)" for each child in this school.
    children: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    """Someone who got no notice, and why."""

    role: str
    name: str
    identifier: str | None
    reason: str


@dataclass
class Distribution:
    """The notices of one distribution, and the people skipped."""

    uai: str
    school_name: str
    division: str | None
    role: str | None
    notices: list[Notice] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready account of the distribution, without any password."""
        return {
            "uai": self.uai,
            "school": self.school_name,
            "class": self.division,
            "role": self.role,
            "notices": len(self.notices),
            "pupils": sum(1 for n in self.notices if n.role == "eleve"),
            "parents": sum(1 for n in self.notices if n.role == "responsable"),
            "skipped": [{"role": s.role, "name": s.name, "identifier": s.identifier,
                         "reason": s.reason} for s in self.skipped],
        }


def issue(provider, account: Account, *, by: str, uai: str | None = None,
          event: str = "account.provisional_issued"):
    """Give an account a new provisional password; return (password, expiry).

    `uai` is the school whose notice carries it (None when an operator issues it). The
    account becomes provisional and unlocked; its sessions end and its tokens are
    revoked, since whoever held the old credentials must not stay logged in.
    """
    if account.status == "disabled":
        raise DistributionError("ce compte est désactivé")
    if account.role not in ROLES:
        raise DistributionError("seuls les comptes des élèves et des parents sont distribués")
    password = provisional_password()
    now = utcnow()
    expires_at = now + timedelta(days=provider.config["PROVISIONAL_PASSWORD_DAYS"])
    account.password_hash = provider.passwords.hash(password)
    account.password_changed_at = now
    account.status = "provisional"
    account.provisional_expires_at = expires_at
    account.provisional_uai = uai
    account.failed_logins = 0
    account.locked_until = None
    account.security_stamp = (account.security_stamp or 0) + 1
    # The services the person was logged into are told too (back-channel logout).
    logout.end_all_sessions(account, reason="provisional_issued")
    tokens.revoke_account(account.id)
    audit.record(event, account=account, by=by, uai=uai, expires_at=expires_at.isoformat())
    return password, expires_at


def notice_for(person: roster.Person, school_row: School, password: str,
               expires_at: datetime) -> Notice:
    """The notice of a pupil or parent of this school."""
    return Notice(
        role=person.role, given_name=person.given_name, family_name=person.family_name,
        division=person.division, identifier=person.account.identifier, password=password,
        expires_at=expires_at, school_name=school_row.name or school_row.uai,
        uai=school_row.uai,
        children=[f"{p.given_name} {p.usage_name or p.family_name}"
                  + (f" ({p.division})" if p.division else "")
                  for p, refused in person.children if not refused],
    )


def _skip_reason(account: Account | None) -> str | None:
    if account is None:
        return None
    if account.status == "active":
        return "compte déjà activé : il garde son mot de passe"
    if account.status == "disabled":
        return "compte désactivé"
    return None


@dataclass(frozen=True)
class OtherSchoolNotice:
    """A provisional password that another school's notice carries and that still works.

    Which school is not told to this one: that the parent has a child there is none of
    its business (data minimisation); the audit trail records it (`uai`).
    """

    # None: a password recorded without an end (never by `issue`, which always sets one).
    expires_at: datetime | None


def notice_of_another_school(account: Account | None,
                             school_row: School) -> OtherSchoolNotice | None:
    """The working notice that another school printed for this account, if any:
    replacing its password would void it."""
    if (account is None or account.status != "provisional" or not account.password_hash
            or account.provisional_uai in (None, school_row.uai)):
        return None
    expires_at = account.provisional_expires_at
    if expires_at is not None and expires_at <= utcnow():
        return None
    return OtherSchoolNotice(expires_at)


def notices_of_other_schools(accounts, school_row: School) -> dict[int, OtherSchoolNotice]:
    """Account id -> the working notice another school printed, for those of these
    accounts (None allowed) that hold one."""
    found = {}
    for account in accounts:
        notice = notice_of_another_school(account, school_row)
        if notice is not None:
            found[account.id] = notice
    return found


def _notice_of_another_school(account: Account | None, school_row: School) -> str | None:
    """Why not to replace a provisional password that another school's notice carries
    and that still works (None if there is no such notice)."""
    other = notice_of_another_school(account, school_row)
    if other is None:
        return None
    from idp.admin.notices import french_date  # notices imports this module

    until = f", valable jusqu'au {french_date(other.expires_at)}" if other.expires_at else ""
    return (f"notification déjà remise par un autre établissement{until} (un seul compte "
            "par parent) ; si elle est perdue : « Nouveau mot de passe provisoire » sur sa "
            "fiche")


def _pupil_account(pupil) -> Account:
    """The pupil's account, created (provisional) if it was deleted since the import."""
    given, family_name = pupil.given_name, pupil.usage_name or pupil.family_name
    identifier = identifiers.issue(given, family_name)
    account = account_service.create(
        None, identifier=identifier, password=None, role="eleve", status="provisional",
        given_name=given, family_name=family_name, birthdate=pupil.birthdate,
    )
    identifiers.record_issued(db.session.connection(), [(identifier, account.id)])
    pupil.account_id = account.id
    return account


def _serialise(school_row: School) -> None:
    """Make distributions of one school wait for each other until commit.

    A no-op UPDATE of the school's row takes its row lock on PostgreSQL and the write
    lock on SQLite, so that what is read next (who has an account) is what the previous
    distribution committed: a double submission creates no second account.
    """
    db.session.execute(
        update(School).where(School.id == school_row.id)
        .values(updated_at=School.updated_at)
        .execution_options(synchronize_session=False)
    )


def _lock_identities(people: list[roster.Person]) -> dict[int, ParentIdentity]:
    """Lock the parents' identities (PostgreSQL) against their own activation running at
    the same time, and read their current owner."""
    ids = sorted(p.identity_id for p in people if p.identity_id is not None)
    if not ids:
        return {}
    rows = db.session.execute(
        select(ParentIdentity).where(ParentIdentity.id.in_(ids)).order_by(ParentIdentity.id)
        .with_for_update().execution_options(populate_existing=True)
    ).scalars()
    return {row.id: row for row in rows}


def distribute(provider, uai: str, *, division: str | None = None, role: str | None = None,
               by: str) -> Distribution:
    """Issue provisional passwords to a school's pupils and/or parents (of one class).

    Accounts already active, or disabled, are skipped and listed with the reason;
    parents without an account get one. `by` names who asked (for the audit trail).
    """
    if role not in (None, *ROLES):
        raise DistributionError(f"rôle inconnu : {role}")
    school_row = roster.school(uai)
    if school_row is None:
        raise DistributionError(f"établissement {uai} absent de l'annuaire")
    if division and division not in roster.divisions(school_row):
        raise DistributionError(f"classe {division} inconnue dans l'établissement {uai}")
    _serialise(school_row)
    result = Distribution(school_row.uai, school_row.name or school_row.uai, division or None,
                          role)
    people: list[roster.Person] = []
    if role in (None, "eleve"):
        people += roster.pupils(school_row, division)
    if role in (None, "responsable"):
        # All their children in the school, so that a parent's one notice names them all.
        parents = [p for p in roster.parents(school_row)
                   if not division or any(c.division == division for c, _ in p.children)]
        identities = _lock_identities(parents)
        for person in parents:
            identity = identities.get(person.identity_id)
            if identity is not None and identity.account_id is not None and (
                    person.account is None or person.account.id != identity.account_id):
                # Their own activation created it since the roster was read.
                person.account = db.session.get(Account, identity.account_id)
        people += parents
    people.sort(key=lambda p: (p.division or "", p.role != "eleve",
                               p.family_name.lower(), p.given_name.lower()))
    for person in people:
        name = f"{person.given_name} {person.family_name}"
        reason = _skip_reason(person.account)
        if reason is None and person.role == "responsable":
            if division and person.division != division:
                # One notice per parent: a second one, for another class, would void it.
                reason = (f"notification imprimée avec la classe {person.division} "
                          "(un seul compte par parent)")
            elif person.children and all(refused for _, refused in person.children):
                reason = "a déclaré ne pas être le représentant légal de ses enfants listés"
            elif person.identity_id is None:
                reason = "fiche du responsable incomplète : compte impossible à créer"
            else:
                # Only a parent: a pupil is listed by one school at a time.
                reason = _notice_of_another_school(person.account, school_row)
        if reason is not None:
            result.skipped.append(Skipped(person.role, name, getattr(person.account,
                                                                      "identifier", None),
                                          reason))
            continue
        if person.account is None:
            if person.role == "eleve":
                person.account = _pupil_account(person.pupil)
            else:
                person.account = family.create_parent_account(identities[person.identity_id])
        password, expires_at = issue(provider, person.account, by=by, uai=school_row.uai)
        result.notices.append(notice_for(person, school_row, password, expires_at))
    audit.record("accounts.distributed", identifier=by[:64], uai=school_row.uai,
                 division=division, role=role, notices=len(result.notices),
                 skipped=len(result.skipped))
    return result


def reset_provisional(provider, account: Account, *, by: str,
                      uai: str | None = None) -> tuple[str, datetime]:
    """Give one account a new provisional password (lost notice, forgotten password).

    Unlike a distribution, it replaces a notice another school printed: the person asked
    this school for a new one.
    """
    return issue(provider, account, by=by, uai=uai, event="account.provisional_reset")


def _member(school_row: School, public_id: str) -> roster.Person:
    account = db.session.execute(
        select(Account).where(Account.public_id == (public_id or "")[:36])
        # Two resets of one account at once: the second waits and wins, as displayed.
        .with_for_update()
    ).scalar_one_or_none()
    person = roster.person_of(school_row, account) if account is not None else None
    if person is None:
        raise DistributionError("ce compte n'appartient pas à cet établissement")
    return person


def reset_in_school(provider, school_row: School, public_id: str, *, by: str) -> Notice:
    """Reset the provisional password of a pupil or parent of this school only; return
    the printable notice (the only place the new password appears)."""
    person = _member(school_row, public_id)
    password, expires_at = reset_provisional(provider, person.account, by=by,
                                             uai=school_row.uai)
    return notice_for(person, school_row, password, expires_at)


def unlock(account: Account, *, by: str) -> None:
    """Lift the lock that failed logins put on an account."""
    account.failed_logins = 0
    account.locked_until = None
    audit.record("account.unlocked", account=account, by=by)


def unlock_in_school(school_row: School, public_id: str, *, by: str) -> roster.Person:
    """Unlock the account of a pupil or parent of this school only."""
    person = _member(school_row, public_id)
    unlock(person.account, by=by)
    return person
