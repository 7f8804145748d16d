"""Bulk insertion of filler accounts for the scale benchmark.

The column set is that of the `accounts` table in
migrations/versions/0001_provider_core.py; columns that later migrations add NOT NULL
without a default get a neutral value, so that the insert keeps working as the schema
grows. Every filler account shares one precomputed argon2id hash (hashing a million
passwords would take hours and measures nothing); identifiers and public ids are
unique. SQLite: executemany in one transaction. PostgreSQL: COPY.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from urllib.parse import quote

COLUMNS = (
    "public_id", "identifier", "role", "status", "password_hash", "password_changed_at",
    "given_name", "family_name", "birthdate", "email", "email_verified", "phone_number",
    "phone_number_verified", "failed_logins", "locked_until", "security_stamp",
    "created_at", "updated_at", "last_login_at",
)
BATCH = 50_000


def _rows(start: int, stop: int, password_hash: str, now: str, extra: tuple = ()):
    for i in range(start, stop):
        yield (
            str(uuid.uuid4()), f"bulk.{i:08d}", "eleve" if i % 3 else "responsable",
            "active", password_hash, now, "Prenom", f"Nom{i}", None,
            f"bulk.{i:08d}@example.org", True, None, False, 0, None, 0, now, now, None,
        ) + extra


def _value_for(sql_type: str, now: str, boolean):
    """A neutral value for a NOT NULL column added by a later migration."""
    sql_type = (sql_type or "").lower()
    if "bool" in sql_type:
        return boolean
    if "int" in sql_type or "numeric" in sql_type or "real" in sql_type:
        return 0
    if "json" in sql_type:
        return "{}"
    if "time" in sql_type or "date" in sql_type:
        return now
    return ""


def _later_columns(found, now, boolean) -> tuple[list[str], tuple]:
    """Columns beyond 0001's that are NOT NULL without a default: (names, values)."""
    names, values = [], []
    for name, sql_type, required in found:
        if name in COLUMNS or name == "id" or not required:
            continue
        names.append(name)
        values.append(_value_for(sql_type, now, boolean))
    return names, tuple(values)


def fake_hash(memory_kib: int, time_cost: int, parallelism: int) -> str:
    """One argon2id hash with the configured parameters, shared by the filler rows."""
    from argon2 import PasswordHasher
    from argon2 import Type

    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
        hash_len=32, salt_len=16, type=Type.ID,
    ).hash("filler-account-password")


def count_sqlite(path) -> int:
    """Accounts in a SQLite database."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM accounts").fetchone()[0]


def insert_sqlite(path, start: int, stop: int, password_hash: str) -> float:
    """Insert filler accounts start..stop-1 in one transaction; return the seconds taken."""
    now = "2026-09-01 08:00:00.000000"
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        info = conn.execute("PRAGMA table_info(accounts)").fetchall()
        names, extra = _later_columns(
            [(r[1], r[2], bool(r[3]) and r[4] is None) for r in info], now, 0
        )
        columns = COLUMNS + tuple(names)
        conn.execute("BEGIN")
        cols, marks = ", ".join(columns), ", ".join("?" for _ in columns)
        sql = f"INSERT INTO accounts ({cols}) VALUES ({marks})"  # noqa: S608 - constants
        for lo in range(start, stop, BATCH):
            conn.executemany(sql, _rows(lo, min(stop, lo + BATCH), password_hash, now, extra))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - t0


def count_pg(base_url: str, schema: str) -> int:
    """Accounts in a PostgreSQL schema."""
    import psycopg

    with psycopg.connect(_url(base_url, schema)) as conn:
        return conn.execute("SELECT count(*) FROM accounts").fetchone()[0]


def insert_pg(base_url: str, schema: str, start: int, stop: int, password_hash: str) -> float:
    """COPY filler accounts start..stop-1 into the schema; return the seconds taken."""
    import psycopg

    now = "2026-09-01 08:00:00+00"
    t0 = time.perf_counter()
    with psycopg.connect(_url(base_url, schema)) as conn:
        info = conn.execute(
            "SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL "
            "FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'accounts'"
        ).fetchall()
        names, extra = _later_columns(info, now, False)
        columns = ", ".join(COLUMNS + tuple(names))
        with conn.cursor() as cur, cur.copy(f"COPY accounts ({columns}) FROM STDIN") as copy:
            for row in _rows(start, stop, password_hash, now, extra):
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE accounts")
    return time.perf_counter() - t0


def _url(base_url: str, schema: str) -> str:
    sep = "&" if "?" in base_url else "?"
    return f"{base_url}{sep}options={quote('-csearch_path=' + schema)}"
