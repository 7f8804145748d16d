"""Fixed-window counters shared by every process (database or Redis)."""

import time

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
