"""Parallel requests: a code or a refresh token succeeds once; failures all count."""

import threading

from idp.extensions import db
from idp.models import Account
from tests.conftest import csrf_from

PARALLEL = 8


def _in_parallel(fn, n=PARALLEL):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_one_code_redeemed_in_parallel_succeeds_once(app, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    data = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": rp.redirect_uri, "code_verifier": rp.verifier}
    headers = rp.auth_headers()
    statuses = _in_parallel(
        lambda i: app.test_client().post("/token", data=data, headers=headers).status_code
    )
    assert statuses.count(200) == 1, statuses


def test_one_refresh_token_used_in_parallel_succeeds_once(app, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    refresh = rp.token(callback["code"]).json["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": refresh}
    headers = rp.auth_headers()
    statuses = _in_parallel(
        lambda i: app.test_client().post("/token", data=data, headers=headers).status_code
    )
    assert statuses.count(200) == 1, statuses
    assert all(s in (200, 400) for s in statuses), statuses


def test_parallel_wrong_passwords_lock_after_exactly_the_threshold(app, make_account):
    person = make_account()
    threshold = app.extensions["idp"].login.threshold

    def attempt(i):
        browser = app.test_client()
        page = browser.get("/login")
        return browser.post("/login", data={
            "csrf_token": csrf_from(page.text), "identifier": person["identifier"],
            "password": f"wrong-{i}"}).status_code

    statuses = _in_parallel(attempt)
    # Each failure is counted atomically: exactly threshold - 1 attempts are told
    # "incorrect", every other one finds the account locked.
    assert statuses.count(401) == threshold - 1, statuses
    assert statuses.count(423) == PARALLEL - threshold + 1, statuses
    with app.app_context():
        account = db.session.get(Account, person["id"])
        assert account.failed_logins >= threshold
        assert account.locked_until is not None
