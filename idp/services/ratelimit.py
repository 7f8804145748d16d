"""Fixed-window rate limits shared by every server process (Redis or the database),
and streaks: counts of consecutive events that are forgotten after a quiet period."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
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


# A streak is a count and an `until` time (never earlier than its last event). In the
# database it is one row (window_start 0, key "streak:<key>") whose expires_at is
# until + forget: the row expires, and the purge removes it, exactly when the streak is
# forgotten, and `until` is expires_at - forget. `forget` must be the same on every call
# for a key. In Redis it is a hash {count, until} (until in integer microseconds since
# the epoch), changed by scripts so that no other caller acts between read and write.
_STREAK_WINDOW = 0
_streak_live = and_(_counters.c.key == bindparam("b_key"),
                    _counters.c.window_start == _STREAK_WINDOW)
_STREAK_GET = select(_counters.c.count, _counters.c.expires_at).where(
    _streak_live, _counters.c.expires_at > bindparam("b_now", type_=_counters.c.expires_at.type)
)
_STREAK_HOLD = update(_counters).where(
    _streak_live,
    _counters.c.expires_at > bindparam("b_now", type_=_counters.c.expires_at.type),
    _counters.c.expires_at < bindparam("b_expires", type_=_counters.c.expires_at.type),
).values(expires_at=bindparam("b_expires"))
# KEYS[1] the streak; ARGV[1] now, ARGV[2] forget (microseconds). A streak whose until
# is forget or more before now starts again at 1; until moves forward to now.
_REDIS_STREAK_ADD = """
local now, forget = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'count', 'until')
local count, last = 1, ARGV[1]
if state[2] and tonumber(state[2]) + forget > now then
  count = tonumber(state[1]) + 1
  if tonumber(state[2]) > now then last = state[2] end
end
redis.call('HSET', KEYS[1], 'count', count, 'until', last)
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(last) + forget - now) / 1000))
return count
"""
# ARGV[1] now, ARGV[2] forget, ARGV[3] the new until: only ever later, only if the
# streak is still remembered (never resurrect a forgotten one).
_REDIS_STREAK_HOLD = """
local now, forget = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = redis.call('HGET', KEYS[1], 'until')
if not last or tonumber(last) + forget <= now then return 0 end
if tonumber(ARGV[3]) <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], 'until', ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[3]) + forget - now) / 1000))
return 1
"""


def _upsert_streak_for(dialect: str):
    """Insert a streak of 1, or add one to a remembered streak, or restart a forgotten
    one at 1; expires_at moves forward to now + forget. One atomic statement."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(_counters)
    remembered = _counters.c.expires_at > bindparam("b_now", type_=_counters.c.expires_at.type)
    return statement.on_conflict_do_update(
        index_elements=[_counters.c.key, _counters.c.window_start],
        set_={
            "count": case((remembered, _counters.c.count + 1), else_=1),
            "expires_at": case(
                (_counters.c.expires_at > statement.excluded.expires_at, _counters.c.expires_at),
                else_=statement.excluded.expires_at,
            ),
        },
    ).returning(_counters.c.count)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RateLimiter:
    """Count hits per key and window; tell when a limit is exceeded."""

    def __init__(self, redis=None, prefix: str = "idp:"):
        self.redis = redis
        self.prefix = prefix
        self._upserts: dict[object, object] = {}
        self._scripts: dict[str, object] = {}

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

    def streak(self, key: str, now: datetime, forget: int) -> tuple[int, datetime | None]:
        """Return key's streak (count, until), or (0, None) if none is remembered at now.

        A streak is forgotten `forget` seconds after its `until`.
        """
        if self.redis is not None:
            count, until = self.redis.hmget(self._streak_rkey(key), "count", "until")
            if until is None:
                return 0, None
            until = _EPOCH + timedelta(microseconds=int(until))
            if until + timedelta(seconds=forget) <= now:
                return 0, None
            return int(count), until
        # A connection of its own, outside the request's transaction: the latest
        # committed state, as every other process sees it.
        with db.engine.connect() as conn:
            row = conn.execute(_STREAK_GET, {"b_key": f"streak:{key}", "b_now": now}).first()
        if row is None:
            return 0, None
        return row.count, row.expires_at - timedelta(seconds=forget)

    def add_to_streak(self, key: str, now: datetime, forget: int) -> int:
        """Count one more event in key's streak, atomically, and return its count.

        A streak forgotten at now (or none) starts again at 1. Its `until` becomes now
        if it was earlier. Like `count`, this commits at once in the database.
        """
        forget_delta = timedelta(seconds=forget)
        if self.redis is not None:
            return int(self._streak_script("add", _REDIS_STREAK_ADD)(
                keys=[self._streak_rkey(key)],
                args=[_micros(now), forget * 1_000_000],
            ))
        values = {"key": f"streak:{key}", "window_start": _STREAK_WINDOW, "count": 1,
                  "expires_at": now + forget_delta, "b_now": now}
        engine = db.engine
        dialect = engine.dialect.name
        statement = self._upserts.get(("streak", dialect))
        if statement is None:
            statement = self._upserts[("streak", dialect)] = _upsert_streak_for(dialect)
        with engine.begin() as conn:
            return int(conn.execute(statement, values).scalar_one())

    def hold_streak(self, key: str, until: datetime, now: datetime, forget: int) -> None:
        """Move the `until` of key's streak forward to `until` (never back)."""
        forget_delta = timedelta(seconds=forget)
        if self.redis is not None:
            self._streak_script("hold", _REDIS_STREAK_HOLD)(
                keys=[self._streak_rkey(key)],
                args=[_micros(now), forget * 1_000_000, _micros(until)],
            )
            return
        with db.engine.begin() as conn:
            conn.execute(_STREAK_HOLD, {"b_key": f"streak:{key}", "b_now": now,
                                        "b_expires": until + forget_delta})

    def _streak_rkey(self, key: str) -> str:
        return f"{self.prefix}streak:{key}"

    def _streak_script(self, name: str, source: str):
        # Sent by digest (EVALSHA), loaded again if the server lost them.
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(source)
        return self._scripts[name]

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
