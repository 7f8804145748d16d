"""Fixed-window rate limits shared by every server process (Redis or the database)."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import RateCounter


class RateLimiter:
    """Count hits per key and window; tell when a limit is exceeded."""

    def __init__(self, redis=None, prefix: str = "idp:"):
        self.redis = redis
        self.prefix = prefix

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
                conn.execute(RateCounter.__table__.insert().values(
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
        row = db.session.get(RateCounter, (key, start))
        return row.count if row else 0

    def _count_db(self, key: str, start: int, window: int) -> int:
        # A separate short transaction, committed at once, so that the counter holds
        # even when the request's own work is rolled back.
        with db.engine.begin() as conn:
            result = conn.execute(
                update(RateCounter)
                .where(RateCounter.key == key, RateCounter.window_start == start)
                .values(count=RateCounter.count + 1)
                .returning(RateCounter.count)
            ).first()
            if result is not None:
                return int(result[0])
        try:
            with db.engine.begin() as conn:
                conn.execute(
                    RateCounter.__table__.insert().values(
                        key=key,
                        window_start=start,
                        count=1,
                        expires_at=datetime.fromtimestamp(start + window, UTC),
                    )
                )
            return 1
        except IntegrityError:
            # Another process inserted the row first: count on it.
            with db.engine.begin() as conn:
                return int(
                    conn.execute(
                        update(RateCounter)
                        .where(RateCounter.key == key, RateCounter.window_start == start)
                        .values(count=RateCounter.count + 1)
                        .returning(RateCounter.count)
                    ).scalar_one()
                )
