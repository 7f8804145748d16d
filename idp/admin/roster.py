"""What the console shows about a school: the administrators' schools, the pupils and
parents with the state of their accounts, statistics, and the refused-child reports.

Only pupils still listed by the school count (`left_at` empty); a parent belongs to a
school through a legal link to one of its pupils.
"""

from __future__ import annotations

from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select

from idp.directory.models import ChildConfirmation
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.models import School
from idp.directory.normalise import name_key
from idp.extensions import db
from idp.models import Account
from idp.models import AdminScope
from idp.models.base import utcnow

# The state of a person's account, as the console counts it:
# active (activated), provisional (a notice was printed, not yet activated),
# none (no account, or an account no notice was printed for), disabled.
STATES = ("active", "provisional", "none", "disabled")


def account_state(account: Account | None) -> str:
    """The console state of an account (see STATES)."""
    if account is None:
        return "none"
    if account.status in ("active", "disabled"):
        return account.status
    return "provisional" if account.password_hash else "none"


def _state_sql():
    """account_state() as a SQL expression over an outer-joined Account."""
    return case(
        (Account.id.is_(None), "none"),
        (Account.status == "active", "active"),
        (Account.status == "disabled", "disabled"),
        (Account.password_hash.is_not(None), "provisional"),
        else_="none",
    )


# -- administrators' schools --------------------------------------------------------------


def scopes_of(account: Account) -> list[str]:
    """The UAIs an administrator manages."""
    return list(db.session.execute(
        select(AdminScope.uai).where(AdminScope.account_id == account.id)
        .order_by(AdminScope.uai)
    ).scalars())


def may_manage(account: Account, uai: str) -> bool:
    """Tell whether an administrator manages the school with this UAI."""
    return db.session.execute(
        select(AdminScope.uai).where(AdminScope.account_id == account.id,
                                     AdminScope.uai == (uai or "").upper())
    ).first() is not None


def school(uai: str) -> School | None:
    """The directory's school with this UAI, if it was imported."""
    return db.session.execute(
        select(School).where(School.uai == (uai or "").upper())
    ).scalar_one_or_none()


# -- people -------------------------------------------------------------------------------


@dataclass
class Person:
    """A pupil or a parent of a school, with their account (None if they have none)."""

    role: str
    given_name: str
    family_name: str
    division: str | None
    account: Account | None
    pupil: Pupil | None = None
    identity_id: int | None = None
    # Parents: their children in this school, and whether they refused each one.
    children: list[tuple[Pupil, bool]] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The account's console state (see STATES)."""
        return account_state(self.account)

    @property
    def locked(self) -> bool:
        """Tell whether the account is locked after failed logins."""
        return bool(self.account and self.account.locked_until
                    and self.account.locked_until > utcnow())

    @property
    def expired(self) -> bool:
        """Tell whether the provisional password printed for them has expired."""
        return bool(self.state == "provisional" and self.account.provisional_expires_at
                    and self.account.provisional_expires_at <= utcnow())

    def matches(self, query: str) -> bool:
        """Tell whether a search (name in any order, or identifier) finds this person."""
        key = name_key(query)
        if not key:
            return True
        given, family = name_key(self.given_name), name_key(self.family_name)
        if key in family + given or key in given + family:
            return True
        return bool(self.account and self.account.identifier.startswith(query.strip().lower()))


def _present_pupils(school_row: School, division: str | None):
    query = select(Pupil).where(Pupil.school_id == school_row.id, Pupil.left_at.is_(None))
    if division:
        query = query.where(Pupil.division == division)
    return query


def divisions(school_row: School) -> list[str]:
    """The classes of the school's present pupils."""
    return list(db.session.execute(
        select(Pupil.division).where(Pupil.school_id == school_row.id,
                                     Pupil.left_at.is_(None), Pupil.division.is_not(None))
        .distinct().order_by(Pupil.division)
    ).scalars())


def pupils(school_row: School, division: str | None = None,
           account_id: int | None = None) -> list[Person]:
    """The school's pupils (of one class), sorted by class and name."""
    query = (
        _present_pupils(school_row, division)
        .add_columns(Account)
        .outerjoin(Account, Account.id == Pupil.account_id)
        .order_by(Pupil.division, Pupil.family_name, Pupil.given_name, Pupil.id)
    )
    if account_id is not None:
        query = query.where(Pupil.account_id == account_id)
    return [
        Person("eleve", pupil.given_name, pupil.usage_name or pupil.family_name,
               pupil.division, account, pupil=pupil)
        for pupil, account in db.session.execute(query).all()
    ]


def parents(school_row: School, division: str | None = None,
            account_id: int | None = None) -> list[Person]:
    """The legal representatives of the school's pupils (of one class), one per parent.

    A parent is one ParentIdentity (the same person across files); their name is the
    one the school's own file gives.
    """
    query = (
        select(Representative, Pupil)
        .join(RepresentativeLink, RepresentativeLink.representative_id == Representative.id)
        .join(Pupil, Pupil.id == RepresentativeLink.pupil_id)
        .where(Pupil.school_id == school_row.id, Pupil.left_at.is_(None))
        .order_by(Pupil.division, Pupil.family_name, Pupil.given_name, Representative.id)
    )
    if division:
        query = query.where(Pupil.division == division)
    if account_id is not None:
        query = query.join(ParentIdentity, ParentIdentity.id == Representative.identity_id) \
            .where(ParentIdentity.account_id == account_id)
    grouped: dict = {}
    for rep, pupil in db.session.execute(query).all():
        key = rep.identity_id if rep.identity_id is not None else f"rep:{rep.id}"
        entry = grouped.setdefault(key, (rep, []))
        if pupil not in entry[1]:
            entry[1].append(pupil)
    identity_ids = [k for k in grouped if isinstance(k, int)]
    owners = dict(db.session.execute(
        select(ParentIdentity.id, ParentIdentity.account_id)
        .where(ParentIdentity.id.in_(identity_ids))
    ).all()) if identity_ids else {}
    account_ids = [a for a in owners.values() if a is not None]
    accounts = {a.id: a for a in db.session.execute(
        select(Account).where(Account.id.in_(account_ids))
    ).scalars()} if account_ids else {}
    refused = set(db.session.execute(
        select(ChildConfirmation.account_id, ChildConfirmation.pupil_id)
        .where(ChildConfirmation.account_id.in_(account_ids),
               ChildConfirmation.refused_at.is_not(None))
    ).all()) if account_ids else set()
    people = []
    for key, (rep, children) in grouped.items():
        account = accounts.get(owners.get(key)) if isinstance(key, int) else None
        people.append(Person(
            # A parent's class is their children's first: where their notice is printed.
            "responsable", rep.given_name, rep.usage_name or rep.birth_name,
            min(p.division or "" for p in children) or None, account,
            identity_id=key if isinstance(key, int) else None,
            children=[(p, account is not None and (account.id, p.id) in refused)
                      for p in children],
        ))
    people.sort(key=lambda p: (p.division or "", name_key(p.family_name),
                               name_key(p.given_name)))
    return people


def person_of(school_row: School, account: Account) -> Person | None:
    """The pupil or parent of this school who holds this account, if any."""
    found = pupils(school_row, account_id=account.id) or parents(
        school_row, account_id=account.id
    )
    return found[0] if found else None


# -- statistics ---------------------------------------------------------------------------


@dataclass
class Counts:
    """How many pupils and parents are in each state."""

    pupils: Counter = field(default_factory=Counter)
    parents: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        """JSON-ready counts, every state present."""
        return {
            who: {"total": sum(c.values()), **{s: c.get(s, 0) for s in STATES}}
            for who, c in (("pupils", self.pupils), ("parents", self.parents))
        }


@dataclass
class Statistics:
    """A school's counts, in total and per class."""

    total: Counts
    classes: dict[str, Counts]

    def as_dict(self) -> dict:
        """JSON-ready statistics."""
        return {"total": self.total.as_dict(),
                "classes": {k: v.as_dict() for k, v in self.classes.items()}}


def statistics(school_row: School) -> Statistics:
    """Count the school's pupils and parents per account state, per class and in total.

    A parent with children in two classes counts in both classes and once in total.
    """
    state = _state_sql()
    total = Counts()
    classes: dict[str, Counts] = defaultdict(Counts)
    for division, st, n in db.session.execute(
        select(Pupil.division, state, func.count())
        .outerjoin(Account, Account.id == Pupil.account_id)
        .where(Pupil.school_id == school_row.id, Pupil.left_at.is_(None))
        .group_by(Pupil.division, state)
    ):
        classes[division or ""].pupils[st] += n
        total.pupils[st] += n
    parent_rows = db.session.execute(
        select(Pupil.division, Representative.identity_id, Representative.id, state)
        .join(RepresentativeLink, RepresentativeLink.pupil_id == Pupil.id)
        .join(Representative, Representative.id == RepresentativeLink.representative_id)
        .outerjoin(ParentIdentity, ParentIdentity.id == Representative.identity_id)
        .outerjoin(Account, Account.id == ParentIdentity.account_id)
        .where(Pupil.school_id == school_row.id, Pupil.left_at.is_(None))
        .distinct()
    ).all()
    seen_in_class: set = set()
    seen: set = set()
    for division, identity_id, rep_id, st in parent_rows:
        who = identity_id if identity_id is not None else f"rep:{rep_id}"
        if (division, who) not in seen_in_class:
            seen_in_class.add((division, who))
            classes[division or ""].parents[st] += 1
        if who not in seen:
            seen.add(who)
            total.parents[st] += 1
    return Statistics(total, dict(sorted(classes.items())))


# -- "not the legal representative" reports -----------------------------------------------


@dataclass
class Refusal:
    """A parent said "Je ne suis pas le représentant légal de cet élève"."""

    refused_at: datetime
    parent: Account
    pupil: Pupil


def refusals(school_row: School) -> list[Refusal]:
    """The refused-child reports about the school's pupils, newest first."""
    rows = db.session.execute(
        select(ChildConfirmation.refused_at, Account, Pupil)
        .join(Pupil, Pupil.id == ChildConfirmation.pupil_id)
        .join(Account, Account.id == ChildConfirmation.account_id)
        .where(Pupil.school_id == school_row.id, ChildConfirmation.refused_at.is_not(None))
        .order_by(ChildConfirmation.refused_at.desc(), ChildConfirmation.id.desc())
    ).all()
    return [Refusal(at, parent, pupil) for at, parent, pupil in rows]
