"""Fixed-window rate limits shared by every server process (Redis or the database)."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import RateCounter

_counters = RateCounter.__table__


def _upsert_for(dialect: str):
    """INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL, the supported engines)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(_counters)
    return statement.on_conflict_do_update(
        index_elements=[_counters.c.key, _counters.c.window_start],
        set_={"count": _counters.c.count + 1},
    ).returning(_counters.c.count)


class RateLimiter:
    """Count hits per key and window; tell when a limit is exceeded."""

    def __init__(self, redis=None, prefix: str = "idp:"):
        self.redis = redis
        self.prefix = prefix
        self._upserts: dict[str, object] = {}

    def hit(self, key: str, limit: int, window: int) -> bool:
        """Count one hit; return True while the key is within its limit."""
        return self.count(key, window) <= limit

    def count(self, key: str, window: int) -> int:
        """Count one hit and return the hits so far in the current window."""
        start = int(time.time()) // window * window
        if self.redis is not None:
            rkey = f"{self.prefix}rl:{key}:{start}"
            pipe = self.redis.pipeline()
            pipe.incr(rkey)
            pipe.expire(rkey, window + 1)
            return int(pipe.execute()[0])
        return self._count_db(key, start, window)

    def first_use(self, key: str, ttl: int) -> bool:
        """Record key for ttl seconds; True only the first time (replay detection)."""
        if self.redis is not None:
            return bool(self.redis.set(f"{self.prefix}once:{key}", 1, nx=True, ex=ttl))
        try:
            with db.engine.begin() as conn:
                conn.execute(insert(_counters).values(
                    key=f"once:{key}"[:200], window_start=0, count=1,
                    expires_at=datetime.fromtimestamp(time.time() + ttl, UTC)))
            return True
        except IntegrityError:
            return False

    def peek(self, key: str, window: int) -> int:
        """Return the hits in the current window without counting one."""
        start = int(time.time()) // window * window
        if self.redis is not None:
            return int(self.redis.get(f"{self.prefix}rl:{key}:{start}") or 0)
        count = db.session.connection().execute(
            select(_counters.c.count).where(_counters.c.key == key,
                                            _counters.c.window_start == start)
        ).scalar()
        return count or 0

    def _count_db(self, key: str, start: int, window: int) -> int:
        # A separate short transaction, committed at once, so that the counter holds
        # even when the request's own work is rolled back, and so that no row lock is
        # held during the request (a school's pupils share one address). One statement:
        # insert the window's row or add one to it, atomically.
        values = {"key": key, "window_start": start, "count": 1,
                  "expires_at": datetime.fromtimestamp(start + window, UTC)}
        engine = db.engine
        with engine.begin() as conn:
            return int(conn.execute(self._upsert(engine.dialect.name), values).scalar_one())

    def _upsert(self, dialect: str):
        if dialect not in self._upserts:
            self._upserts[dialect] = _upsert_for(dialect)
        return self._upserts[dialect]
