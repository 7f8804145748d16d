"""Fixed-window counters shared by every process (database or Redis)."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from idp.extensions import db
from idp.models import RateCounter
from idp.services.ratelimit import RateLimiter


@pytest.fixture(params=["database", "configured"])
def limiter(request, app):
    """The database limiter, and the provider's own (Redis when configured)."""
    with app.app_context():
        if request.param == "database":
            yield RateLimiter(None)
        else:
            yield app.extensions["idp"].ratelimiter


def test_count_adds_one_hit_per_call(limiter):
    assert [limiter.count("k:a", 3600) for _ in range(3)] == [1, 2, 3]
    assert limiter.count("k:b", 3600) == 1
    assert limiter.peek("k:a", 3600) == 3
    assert limiter.peek("k:unknown", 3600) == 0


def test_hit_tells_whether_the_limit_is_reached(limiter):
    assert [limiter.hit("k:ip", 2, 3600) for _ in range(4)] == [True, True, False, False]


def test_windows_are_counted_apart(limiter, monkeypatch):
    now = 1_000_000_000
    monkeypatch.setattr(time, "time", lambda: now)
    assert limiter.count("k:w", 60) == 1
    assert limiter.count("k:w", 60) == 2
    now += 60
    assert limiter.count("k:w", 60) == 1


def test_database_counts_survive_the_request_rollback(app):
    with app.app_context():
        limiter = RateLimiter(None)
        limiter.count("k:kept", 3600)
        db.session.rollback()
        assert limiter.count("k:kept", 3600) == 2
        row = db.session.execute(
            db.select(RateCounter).where(RateCounter.key == "k:kept")
        ).scalar_one()
        assert row.count == 2 and row.expires_at is not None


def test_first_use_is_true_once(limiter):
    assert limiter.first_use("jti:1", 60) is True
    assert limiter.first_use("jti:1", 60) is False
    assert limiter.first_use("jti:2", 60) is True


T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
DAY = 86400


def test_streak_counts_consecutive_events_and_remembers_until(limiter):
    assert limiter.streak("s:a", T0, DAY) == (0, None)
    assert [limiter.add_to_streak("s:a", T0 + timedelta(seconds=i), DAY)
            for i in range(3)] == [1, 2, 3]
    assert limiter.streak("s:a", T0 + timedelta(seconds=5), DAY) == (3, T0 + timedelta(seconds=2))
    assert limiter.streak("s:b", T0, DAY) == (0, None)


def test_streak_until_only_moves_forward(limiter):
    limiter.add_to_streak("s:h", T0, DAY)
    later = T0 + timedelta(minutes=5, microseconds=123457)
    limiter.hold_streak("s:h", later, T0, DAY)
    limiter.hold_streak("s:h", T0 + timedelta(minutes=1), T0, DAY)
    assert limiter.streak("s:h", T0, DAY) == (1, later)
    # An event before `until` counts without moving it back.
    assert limiter.add_to_streak("s:h", T0 + timedelta(minutes=2), DAY) == 2
    assert limiter.streak("s:h", T0 + timedelta(minutes=2), DAY) == (2, later)
    # No hold on a streak that does not exist.
    limiter.hold_streak("s:none", later, T0, DAY)
    assert limiter.streak("s:none", T0, DAY) == (0, None)


def test_streak_is_forgotten_after_the_quiet_period(limiter):
    limiter.add_to_streak("s:f", T0, DAY)
    limiter.hold_streak("s:f", T0 + timedelta(hours=1), T0, DAY)
    assert limiter.add_to_streak("s:f", T0 + timedelta(hours=2), DAY) == 2
    # `until` is now T0 + 2 h: remembered until a day after it, not a second more.
    almost = T0 + timedelta(hours=26) - timedelta(microseconds=1)
    assert limiter.streak("s:f", almost, DAY)[0] == 2
    gone = T0 + timedelta(hours=26)
    assert limiter.streak("s:f", gone, DAY) == (0, None)
    limiter.hold_streak("s:f", gone + timedelta(hours=1), gone, DAY)
    assert limiter.streak("s:f", gone, DAY) == (0, None)
    assert limiter.add_to_streak("s:f", gone, DAY) == 1
    assert limiter.streak("s:f", gone, DAY) == (1, gone)


def test_streaks_are_apart_from_window_counts(limiter):
    limiter.count("s:k", 3600)
    assert limiter.add_to_streak("s:k", T0, DAY) == 1
    assert limiter.peek("s:k", 3600) == 1


def test_database_streaks_survive_the_request_rollback_and_expire_with_the_row(app):
    with app.app_context():
        limiter = RateLimiter(None)
        limiter.add_to_streak("s:kept", T0, DAY)
        db.session.rollback()
        assert limiter.add_to_streak("s:kept", T0, DAY) == 2
        row = db.session.execute(
            db.select(RateCounter).where(RateCounter.key == "streak:s:kept")
        ).scalar_one()
        # The purge removes the row exactly when the streak is forgotten.
        assert row.expires_at == T0 + timedelta(days=1)


def test_parallel_streak_events_all_count(app, limiter):
    limiter_ = limiter

    def add(_):
        with app.app_context():
            return limiter_.add_to_streak("s:par", T0, DAY)

    with ThreadPoolExecutor(8) as pool:
        counts = sorted(pool.map(add, range(16)))
    assert counts == list(range(1, 17))
