"""Identifiers for people: `first-initial.familyname` plus a number, never reused.

The number after a stem comes from a counter that only grows (`identifier_counters`),
and every identifier handed out is kept in `identifier_history` after its account is
gone, so an identifier printed on an old letter can never open someone else's account.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import union
from sqlalchemy import update

from idp.directory.models import IdentifierCounter
from idp.directory.models import IssuedIdentifier
from idp.directory.normalise import ascii_slug
from idp.directory.sql import chunks
from idp.directory.sql import insert_ignore
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow

# Long enough for compound names, short enough for the 64-character identifier column.
FAMILY_MAX = 40

counters = IdentifierCounter.__table__
history = IssuedIdentifier.__table__
accounts = Account.__table__


def stem(given_name: str, family_name: str) -> str:
    """Return `j.martin` for Jean MARTIN: lowercase ASCII, hyphens kept in compound names."""
    initial = ascii_slug(given_name)[:1] or "x"
    family = ascii_slug(family_name)[:FAMILY_MAX].strip("-") or "x"
    return f"{initial}.{family}"


def _taken(conn, candidates: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(candidates):
        query = union(
            select(accounts.c.identifier).where(accounts.c.identifier.in_(chunk)),
            select(history.c.identifier).where(history.c.identifier.in_(chunk)),
        )
        found.update(conn.execute(query).scalars())
    return found


def _reserve(conn, wanted: dict[str, int]) -> dict[str, int]:
    """Advance the counters of these stems by the numbers wanted; return the first of each."""
    stems = sorted(wanted)
    last: dict[str, int] = {}

    def lock(some):
        """Read and lock (PostgreSQL) the counters of these stems."""
        last.update(conn.execute(
            select(counters.c.stem, counters.c.last).where(counters.c.stem.in_(some))
            .order_by(counters.c.stem).with_for_update()
        ).all())

    for chunk in chunks(stems):
        lock(chunk)
        missing = [s for s in chunk if s not in last]
        if missing:
            insert_ignore(conn, counters, [{"stem": s, "last": 0} for s in missing], ["stem"])
            lock(missing)
    conn.execute(
        update(counters).where(counters.c.stem == bindparam("b_stem"))
        .values(last=bindparam("b_last")),
        [{"b_stem": s, "b_last": last[s] + wanted[s]} for s in stems],
    )
    return {s: last[s] + 1 for s in stems}


def _reserve_apart(conn, wanted: dict[str, int]) -> dict[str, int]:
    if conn.dialect.name == "sqlite":
        # One writer at a time: a second connection would wait for this one's lock.
        return _reserve(conn, wanted)
    # A short transaction of its own, so that concurrent imports do not hold each
    # other's counters for a whole file; numbers of a rolled-back import stay unused.
    with conn.engine.begin() as own:
        return _reserve(own, wanted)


def allocate(conn, people: Sequence[tuple[str, str]]) -> list[str]:
    """Reserve one new identifier per (given name, family name), in order.

    Numbers come from counters that only grow; identifiers already used by accounts
    created another way, or ever issued, are skipped. Gaps are harmless.
    """
    stems = [stem(given, family) for given, family in people]
    result: list[str | None] = [None] * len(stems)
    pending = list(range(len(stems)))
    while pending:
        wanted: dict[str, int] = {}
        for i in pending:
            wanted[stems[i]] = wanted.get(stems[i], 0) + 1
        following = _reserve_apart(conn, wanted)
        candidates = {}
        for i in pending:
            number = following[stems[i]]
            following[stems[i]] = number + 1
            candidates[f"{stems[i]}{number}"] = i
        taken = _taken(conn, list(candidates))
        pending = [i for ident, i in candidates.items() if ident in taken]
        for ident, i in candidates.items():
            if ident not in taken:
                result[i] = ident
    return result  # type: ignore[return-value]


def record_issued(conn, issued: Sequence[tuple[str, int]], now=None) -> None:
    """Keep (identifier, account id) pairs in the history, for good."""
    if issued:
        now = now or utcnow()
        conn.execute(
            history.insert(),
            [{"identifier": i, "account_id": a, "issued_at": now} for i, a in issued],
        )


def record_issued_accounts(conn, account_ids: Sequence[int]) -> None:
    """Keep the identifiers of these (just created) accounts in the history, for good."""
    for chunk in chunks(account_ids):
        conn.execute(history.insert().from_select(
            ["identifier", "account_id", "issued_at"],
            select(accounts.c.identifier, accounts.c.id, func.now())
            .where(accounts.c.id.in_(chunk)),
        ))


def issue(given_name: str, family_name: str) -> str:
    """Allocate one identifier in the current session's transaction."""
    return allocate(db.session.connection(), [(given_name, family_name)])[0]


def was_issued(identifier: str) -> bool:
    """Tell whether an identifier was ever generated (so must not be given again)."""
    return db.session.execute(
        select(history.c.identifier).where(history.c.identifier == identifier)
    ).first() is not None
