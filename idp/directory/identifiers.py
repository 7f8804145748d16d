"""Identifiers for people: `first-initial.familyname` plus a number, never reused.

The number after a stem comes from a counter that only grows (`identifier_counters`),
and every identifier handed out is kept in `identifier_history` after its account is
gone, so an identifier printed on an old letter can never open someone else's account.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
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


def allocate(conn, people: Sequence[tuple[str, str]]) -> list[str]:
    """Reserve one new identifier per (given name, family name), in order.

    The counters are locked (PostgreSQL) for the transaction, so concurrent imports
    never hand out the same number; identifiers already used by accounts created
    another way, or ever issued, are skipped.
    """
    if not people:
        return []
    stems = [stem(given, family) for given, family in people]
    distinct = sorted(set(stems))
    last: dict[str, int] = {}
    for chunk in chunks(distinct):
        insert_ignore(conn, counters, [{"stem": s, "last": 0} for s in chunk], ["stem"])
        rows = conn.execute(
            select(counters.c.stem, counters.c.last)
            .where(counters.c.stem.in_(chunk))
            .with_for_update()
        )
        last.update(rows.all())
    result: list[str | None] = [None] * len(stems)
    pending = list(range(len(stems)))
    while pending:
        candidates = {}
        for i in pending:
            last[stems[i]] += 1
            candidates[f"{stems[i]}{last[stems[i]]}"] = i
        taken = _taken(conn, list(candidates))
        pending = [i for ident, i in candidates.items() if ident in taken]
        for ident, i in candidates.items():
            if ident not in taken:
                result[i] = ident
    conn.execute(
        update(counters).where(counters.c.stem == bindparam("b_stem"))
        .values(last=bindparam("b_last")),
        [{"b_stem": s, "b_last": last[s]} for s in distinct],
    )
    return result  # type: ignore[return-value]


def record_issued(conn, issued: Sequence[tuple[str, int]], now=None) -> None:
    """Keep (identifier, account id) pairs in the history, for good."""
    if issued:
        now = now or utcnow()
        conn.execute(
            history.insert(),
            [{"identifier": i, "account_id": a, "issued_at": now} for i, a in issued],
        )


def issue(given_name: str, family_name: str) -> str:
    """Allocate one identifier in the current session's transaction."""
    return allocate(db.session.connection(), [(given_name, family_name)])[0]


def was_issued(identifier: str) -> bool:
    """Tell whether an identifier was ever generated (so must not be given again)."""
    return db.session.execute(
        select(history.c.identifier).where(history.c.identifier == identifier)
    ).first() is not None
