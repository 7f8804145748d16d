"""The hosted login page: wording, errors, locking, rate limits, CSRF, headers."""

import html
import re

from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.services.passwords import Passwords
from tests.conftest import csrf_from


def _post_login(client, identifier, password, csrf=None):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf or csrf_from(page.text),
                                       "identifier": identifier, "password": password})


def test_login_page_uses_the_guide_wording_and_real_labels(client):
    page = client.get("/login")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for wording in ("Identifiant", "Mot de passe", "Se connecter", "Identifiant perdu",
                    "Mot de passe oublié", "Je n'ai pas de compte", "Besoin d'aide ?",
                    "Mentions légales", "Accessibilité"):
        assert wording in text, wording
    assert '<html lang="fr"' in page.text
    for field in ("identifier", "password"):
        assert re.search(rf'<label[^>]+for="{field}"', page.text), field


def test_security_headers_on_pages(client):
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in page.text and " style=" not in page.text


def test_successful_login_without_pending_request_shows_the_account(client, make_account):
    person = make_account("c.durand")
    response = _post_login(client, "C.Durand ", person["password"])
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).text.count("c.durand") >= 1


def test_wrong_password_and_unknown_identifier_get_the_same_answer(client, make_account):
    person = make_account()
    wrong = _post_login(client, person["identifier"], "nope")
    unknown = _post_login(client, "x.nobody", "nope")
    assert wrong.status_code == unknown.status_code == 401
    message = "Identifiant ou mot de passe incorrect."
    assert message in wrong.text and message in unknown.text


def test_empty_fields_are_reported_next_to_the_fields(client):
    response = _post_login(client, "", "")
    assert "Saisissez votre identifiant." in response.text
    assert "Saisissez votre mot de passe." in response.text
    assert 'href="#identifier"' in response.text


def test_repeated_failures_lock_the_account_progressively(app, client, make_account):
    person = make_account()
    threshold = app.config["LOCK_THRESHOLD"]
    for _ in range(threshold - 1):
        assert _post_login(client, person["identifier"], "bad").status_code == 401
    locked = _post_login(client, person["identifier"], "bad")
    assert locked.status_code == 423
    assert "temporairement bloqué" in locked.text
    # Even the right password is refused while locked.
    assert _post_login(client, person["identifier"], person["password"]).status_code == 423
    with app.app_context():
        account = db.session.get(Account, person["id"])
        assert account.failed_logins == threshold
        events = {e.event for e in db.session.execute(db.select(AuditEvent)).scalars()}
    assert {"login.failed", "account.locked", "login.refused_locked"} <= events


def test_unknown_identifiers_lock_like_known_ones(app, client):
    threshold = app.config["LOCK_THRESHOLD"]
    for _ in range(threshold - 1):
        _post_login(client, "x.ghost", "bad")
    assert _post_login(client, "x.ghost", "bad").status_code == 423


def test_login_rate_limit_per_ip(app, client, make_account):
    app.config["RATELIMIT_LOGIN_PER_IP"] = 3
    try:
        for i in range(3):
            _post_login(client, f"x.user{i}", "bad")
        blocked = _post_login(client, "x.other", "bad")
    finally:
        app.config["RATELIMIT_LOGIN_PER_IP"] = 30
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.text


def test_login_form_requires_the_csrf_token(client, make_account):
    person = make_account()
    client.get("/login")
    response = client.post("/login", data={"identifier": person["identifier"],
                                           "password": person["password"]})
    assert response.status_code == 400
    assert "Formulaire expiré" in response.text
    forged = _post_login(client, person["identifier"], person["password"], csrf="forged")
    assert forged.status_code == 400


def test_password_is_rehashed_when_parameters_change(app, client, make_account):
    person = make_account()
    provider = app.extensions["idp"]
    with app.app_context():
        old_hash = db.session.get(Account, person["id"]).password_hash
    original = provider.passwords
    provider.passwords = Passwords(memory_kib=8192, time_cost=2, parallelism=1)
    provider.login.passwords = provider.passwords
    try:
        assert _post_login(client, person["identifier"], person["password"]).status_code == 302
    finally:
        provider.passwords = original
        provider.login.passwords = original
    with app.app_context():
        new_hash = db.session.get(Account, person["id"]).password_hash
    assert new_hash != old_hash and "m=8192" in new_hash and new_hash.startswith("$argon2id$")


def test_disabled_account_cannot_log_in(app, client, make_account):
    person = make_account()
    with app.app_context():
        db.session.get(Account, person["id"]).status = "disabled"
        db.session.commit()
    assert _post_login(client, person["identifier"], person["password"]).status_code == 401


def test_unknown_pages_get_a_french_404(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Page non trouvée" in response.text


def test_a_success_resets_the_failures_and_records_the_login(app, client, make_account):
    person = make_account()
    assert _post_login(client, person["identifier"], "bad").status_code == 401
    with app.app_context():
        account = db.session.get(Account, person["id"])
        assert account.failed_logins == 1 and account.last_login_at is None
    assert _post_login(client, person["identifier"], person["password"]).status_code == 302
    with app.app_context():
        account = db.session.get(Account, person["id"])
        assert account.failed_logins == 0 and account.locked_until is None
        assert account.last_login_at is not None
        events = [e.event for e in db.session.execute(
            db.select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert events[-2:] == ["login.succeeded", "session.created"]


def test_every_password_attempt_costs_one_verify(app, client, make_account):
    person = make_account()
    passwords = app.extensions["idp"].passwords
    calls = []
    original = passwords.verify

    def counting(password_hash, password):
        calls.append(password_hash is not None)
        return original(password_hash, password)

    passwords.verify = counting
    try:
        _post_login(client, "x.nobody", "nope")
        _post_login(client, person["identifier"], "nope")
        _post_login(client, person["identifier"], person["password"])
    finally:
        del passwords.verify
    assert calls == [False, True, True]


def test_the_login_page_reads_the_pending_request_once(app, rp, monkeypatch):
    flows = app.extensions["idp"].flows
    reads = []
    original = flows.get

    def counting(flow_id, kind):
        reads.append(kind)
        return original(flow_id, kind)

    monkeypatch.setattr(flows, "get", counting)
    page = rp.browser.get(rp.authorize(login_hint="c.durand").headers["Location"])
    assert page.status_code == 200 and 'value="c.durand"' in page.text
    assert "Service test" in page.text
    assert reads == ["authorize"]
