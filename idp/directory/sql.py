"""Bulk SQL helpers for the importer: chunked IN lists, inserts that ignore duplicates,
and inserts that tell the ids of the rows they created."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from itertools import islice

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

# Stays far below the bound-parameter limits of SQLite (32766) and PostgreSQL (65535).
IN_CHUNK = 1000


def chunks(items: Iterable, size: int = IN_CHUNK) -> Iterator[list]:
    """Yield lists of at most `size` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ignoring_insert(conn, table, index_elements: list[str], sql_values: dict):
    """An INSERT that skips rows colliding on index_elements (SQLite, PostgreSQL)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        return insert(table).values(**sql_values)
    statement = dialect_insert(table).values(**sql_values)
    return statement.on_conflict_do_nothing(index_elements=index_elements)


def insert_ignore(conn, table, rows: list[dict], index_elements: list[str],
                  **sql_values) -> None:
    """Insert rows, skipping those that collide on a unique key (concurrent imports).

    `sql_values` are SQL expressions for columns every row shares (e.g. func.now()).
    """
    if rows:
        conn.execute(ignoring_insert(conn, table, index_elements, sql_values), rows)


def ids_by(conn, key_column, keys: list) -> dict:
    """Map unique keys to the ids of their rows."""
    found = {}
    id_column = key_column.table.c.id
    for chunk in chunks(keys):
        found.update(conn.execute(select(key_column, id_column).where(key_column.in_(chunk))).all())
    return found


def insert_ids(conn, table, rows: list[dict], key: str, *, ignore: bool = False,
               **sql_values) -> dict:
    """Insert rows (unique `key` values) and return {key value: id of its row}.

    With `ignore`, rows colliding on `key` are skipped and the ids are those of the rows
    already there. RETURNING is avoided: SQLite can only order it by running one INSERT
    per row, and psycopg spends more time parsing the large multi-row statements it
    needs than PostgreSQL spends inserting (a pipelined executemany, then a look-up by
    key, is several times faster). On SQLite, which numbers new rows after the largest
    id and has only this transaction writing, the ids are the range that follows the
    largest id before the insert, checked at both ends (else looked up by key).
    """
    if not rows:
        return {}
    keys = [row[key] for row in rows]
    statement = (ignoring_insert(conn, table, [key], sql_values) if ignore
                 else insert(table).values(**sql_values))
    if conn.dialect.name == "sqlite":
        largest = select(func.max(table.c.id))
        before = conn.execute(largest).scalar() or 0
        conn.execute(statement, rows)
        after = conn.execute(largest).scalar() or 0
        if after - before == len(rows):
            ends = dict(conn.execute(
                select(table.c.id, table.c[key]).where(table.c.id.in_([before + 1, after]))
            ).all())
            if ends.get(before + 1) == keys[0] and ends.get(after) == keys[-1]:
                return {k: before + 1 + i for i, k in enumerate(keys)}
        return ids_by(conn, table.c[key], keys)
    conn.execute(statement, rows)
    return ids_by(conn, table.c[key], keys)
