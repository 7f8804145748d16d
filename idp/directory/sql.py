"""Bulk SQL helpers for the importer: chunked IN lists and inserts that ignore duplicates."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from itertools import islice

from sqlalchemy import insert

# Stays far below the bound-parameter limits of SQLite (32766) and PostgreSQL (65535).
IN_CHUNK = 1000


def chunks(items: Iterable, size: int = IN_CHUNK) -> Iterator[list]:
    """Yield lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def insert_ignore(conn, table, rows: list[dict], index_elements: list[str],
                  **sql_values) -> None:
    """Insert rows, skipping those that collide on a unique key (concurrent imports).

    `sql_values` are SQL expressions for columns every row shares (e.g. func.now()).
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        conn.execute(insert(table).values(**sql_values), rows)
        return
    statement = dialect_insert(table).values(**sql_values)
    conn.execute(statement.on_conflict_do_nothing(index_elements=index_elements), rows)
