"""LoginService: progressive locking, the same for known and unknown identifiers, and
failures that stop counting as consecutive after a quiet day."""

import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.models import RateCounter
from idp.services.accounts import FAILURE_RESET_SECONDS
from idp.services.accounts import LoginService

T0 = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
RESET = timedelta(seconds=FAILURE_RESET_SECONDS)


class Clock:
    """A clock the test moves forward by hand."""

    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(app, clock):
    """The provider's login service settings and limiter (Redis when configured), with
    a clock of its own."""
    provider = app.extensions["idp"]
    with app.app_context():
        yield LoginService(provider.passwords, provider.ratelimiter,
                           threshold=provider.login.threshold,
                           base_seconds=provider.login.base_seconds,
                           max_seconds=provider.login.max_seconds, clock=clock,
                           key_secret=app.config["SECRET_KEY"])


def attempt(service, identifier, password="wrong-password"):
    """One login as a view makes it: authenticate, then commit; what people are told."""
    result = service.authenticate(identifier, password)
    db.session.commit()
    return result.outcome, result.retry_after


def run_scenario(service, clock, identifier):
    """Wrong passwords across the threshold, during locks, after they expire, up to the
    cap and past the failure reset time; returns [(seconds since T0, outcome, retry)]."""
    seen = []

    def step(**wait):
        clock.advance(**wait)
        outcome, retry = attempt(service, identifier)
        seen.append(((clock.now - T0).total_seconds(), outcome, retry))
        return retry

    for _ in range(service.threshold):
        step(seconds=1)
    # While locked: the time left, and nothing counted.
    for _ in range(3):
        step(seconds=15)
    step(microseconds=250_001)
    # Each lock's end: one more failure doubles the lock, up to the cap.
    retry = seen[-1][2]
    for _ in range(8):
        retry = step(seconds=retry)
    # One second before the lock ends, then at its end: locked, then counted.
    step(seconds=retry - 1)
    retry = step(seconds=1)
    # Just under a day after the last lock ended, failures still count as consecutive...
    step(seconds=retry)
    step(seconds=retry)
    clock.advance(seconds=retry)
    step(seconds=FAILURE_RESET_SECONDS - 1)
    # ... a day after it, they start again from one.
    clock.advance(seconds=retry)
    step(seconds=FAILURE_RESET_SECONDS)
    for _ in range(service.threshold - 1):
        step(seconds=1)
    return seen


def test_unknown_and_known_identifiers_give_the_same_answers_over_time(
        app, service, make_account):
    known = make_account()
    service.clock = Clock()
    known_answers = run_scenario(service, service.clock, known["identifier"])
    service.clock = Clock()
    assert run_scenario(service, service.clock, "x.nobody") == known_answers
    service.clock = Clock()
    assert run_scenario(service, service.clock, "X.Ghost ") == known_answers

    threshold, base, cap = service.threshold, service.base_seconds, service.max_seconds
    assert (threshold, base, cap) == (5, 60, 3600), "the expected answers below assume these"
    answers = [(outcome, retry) for _, outcome, retry in known_answers]
    assert answers == (
        [("invalid", 0)] * 4 + [("locked", 60)]
        + [("locked", 46), ("locked", 31), ("locked", 16), ("locked", 15)]
        + [("locked", s) for s in (120, 240, 480, 960, 1920, 3600, 3600, 3600)]
        + [("locked", 2), ("locked", 3600)]
        + [("locked", 3600)] * 3
        + [("invalid", 0)] * 4 + [("locked", 60)]
    )


def test_locked_answers_count_whole_seconds_rounded_up(service, clock, make_account):
    # Locked answers are reported in whole seconds rounded up, as the views expect:
    # "Réessayez dans 1 minute" on the first lock, for known and unknown alike.
    known = make_account()
    for identifier in (known["identifier"], "x.nobody"):
        for _ in range(service.threshold):
            last = attempt(service, identifier)
        clock.advance(seconds=0.5)
        assert (last, attempt(service, identifier)) == (("locked", 60), ("locked", 60))


def test_locks_stop_doubling_after_a_quiet_day(app, service, clock, make_account):
    person = make_account()

    def stored(failures, locked_until):
        account = db.session.get(Account, person["id"])
        account.failed_logins, account.locked_until = failures, locked_until
        db.session.commit()

    # Locked at the cap, ended a day ago: a wrong password is a first failure again.
    stored(11, T0 - RESET)
    assert attempt(service, person["identifier"]) == ("invalid", 0)
    assert db.session.get(Account, person["id"]).failed_logins == 1
    # Ended a little less than a day ago: still consecutive, locked at the cap again.
    stored(11, T0 - RESET + timedelta(seconds=1))
    assert attempt(service, person["identifier"]) == ("locked", 3600)
    assert db.session.get(Account, person["id"]).failed_logins == 12
    # Below the threshold too: four failures two days ago do not lock at the fifth.
    stored(4, T0 - 2 * RESET)
    assert attempt(service, person["identifier"]) == ("invalid", 0)
    # A failure below the threshold is remembered by its time in locked_until (not a
    # lock: it is not in the future).
    account = db.session.get(Account, person["id"])
    assert (account.failed_logins, account.locked_until) == (1, T0)


def test_a_correct_password_resets_the_count(service, clock, make_account):
    person = make_account()
    for _ in range(service.threshold - 1):
        assert attempt(service, person["identifier"]) == ("invalid", 0)
    assert attempt(service, person["identifier"], person["password"]) == ("ok", 0)
    account = db.session.get(Account, person["id"])
    assert (account.failed_logins, account.locked_until) == (0, None)
    for _ in range(service.threshold - 1):
        assert attempt(service, person["identifier"]) == ("invalid", 0)
    assert attempt(service, person["identifier"]) == ("locked", 60)
    # Even the right password is refused while locked.
    assert attempt(service, person["identifier"], person["password"]) == ("locked", 60 + 1)


def test_every_unknown_attempt_costs_one_verify(service):
    calls = []
    original = service.passwords.verify
    service.passwords = type("Counting", (), {
        "verify": lambda self, h, p: calls.append(h) or original(h, p),
    })()
    for _ in range(service.threshold + 2):
        attempt(service, "x.nobody")
    assert calls == [None] * (service.threshold + 2)


def _stored_keys(app):
    provider = app.extensions["idp"]
    keys = [row.key for row in db.session.execute(db.select(RateCounter)).scalars()]
    if provider.redis is not None:
        keys += [k.decode() for k in provider.redis.scan_iter(f"{app.config['REDIS_PREFIX']}*")]
    return keys


def test_the_unknown_identifier_key_does_not_contain_the_identifier(app, service):
    for _ in range(service.threshold):
        attempt(service, "Mot-De-Passe-Tapé-Ici")
    keys = [key for key in _stored_keys(app) if "login-unknown:" in key]
    assert len(keys) == 1
    assert "mot-de-passe" not in keys[0].lower()
    assert keys[0].endswith(service.unknown_key("mot-de-passe-tapé-ici"))
    digest = keys[0].rsplit("login-unknown:", 1)[1]
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    # Keyed: another secret, another key; the same identifier however it is typed.
    other = LoginService(service.passwords, service.ratelimiter, threshold=5,
                         base_seconds=60, max_seconds=3600, key_secret="another")
    assert other.unknown_key("x.nobody") != service.unknown_key("x.nobody")
    assert service.unknown_key(" X.Nobody") == service.unknown_key("x.nobody")
    # Nor does the audit trail keep what was typed: a digest ties the events together.
    events = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.event.like("login.%"))).scalars().all()
    assert events and all(e.identifier is None for e in events)
    assert {e.details["typed"] for e in events} == {digest[:16]}
    assert "mot-de-passe" not in str([e.details for e in events]).lower()


def test_parallel_wrong_guesses_on_an_unknown_identifier_all_count(app, service):
    parallel = 8
    barrier = threading.Barrier(parallel)
    results = [None] * parallel

    def run(i):
        with app.app_context():
            barrier.wait()
            results[i] = attempt(service, "x.parallel")
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    outcomes = [outcome for outcome, _ in results]
    assert outcomes.count("invalid") == service.threshold - 1, results
    assert outcomes.count("locked") == parallel - service.threshold + 1, results
