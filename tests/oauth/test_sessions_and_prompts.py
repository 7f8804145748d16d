"""Single sign-on: prompt, max_age, id_token_hint and the session cookie."""

import base64
import json
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from idp.oauth.subject import pairwise
from tests.conftest import RelyingParty
from tests.conftest import query_of


def _login(rp, person):
    callback = rp.code_flow(person["identifier"], person["password"])
    return rp.token(callback["code"]).json


def _payload(token):
    """The claims of a JWT whose signature another test verifies."""
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_second_client_gets_a_code_without_login(client, rp, make_client, make_account):
    person = make_account()
    first = _login(rp, person)
    other = RelyingParty(client, make_client(name="Bourses",
                                             redirect_uris=["https://bourses.example.org/cb"]))
    response = other.authorize()
    callback = other.follow_to_callback(response)
    second = other.token(callback["code"]).json
    a, b = _payload(first["id_token"]), _payload(second["id_token"])
    assert a["sid"] == b["sid"] and a["auth_time"] == b["auth_time"]
    assert a["sub"] != b["sub"], "pairwise subjects differ between sectors"


def test_prompt_none_with_session_is_silent_and_keeps_sub_and_auth_time(client, rp,
                                                                         make_account):
    person = make_account()
    first = _payload(_login(rp, person)["id_token"])
    callback = rp.follow_to_callback(rp.authorize(prompt="none"))
    again = _payload(rp.token(callback["code"]).json["id_token"])
    assert again["sub"] == first["sub"] and again["auth_time"] == first["auth_time"]


def test_prompt_login_forces_a_new_authentication(client, rp, make_account):
    person = make_account()
    first = _payload(_login(rp, person)["id_token"])
    time.sleep(1.1)
    response = rp.authorize(prompt="login")
    assert "/login" in response.headers["Location"]
    callback = rp.follow_to_callback(rp.login(response, person["identifier"],
                                              person["password"]))
    again = _payload(rp.token(callback["code"]).json["id_token"])
    assert again["auth_time"] > first["auth_time"]


def test_max_age_exceeded_forces_login_and_returns_auth_time(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    time.sleep(1.1)
    response = rp.authorize(max_age="1")
    assert "/login" in response.headers["Location"]
    callback = rp.follow_to_callback(rp.login(response, person["identifier"],
                                              person["password"]))
    claims = _payload(rp.token(callback["code"]).json["id_token"])
    assert time.time() - claims["auth_time"] < 5


def test_max_age_not_exceeded_does_not_prompt(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    callback = rp.follow_to_callback(rp.authorize(max_age="10000"))
    assert "code" in callback


def test_prompt_none_with_max_age_exceeded_returns_login_required(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    time.sleep(1.1)
    response = rp.authorize(prompt="none", max_age="1")
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_id_token_hint_of_the_session_user_succeeds_silently(client, rp, make_account):
    person = make_account()
    id_token = _login(rp, person)["id_token"]
    callback = rp.follow_to_callback(rp.authorize(prompt="none", id_token_hint=id_token))
    assert "code" in callback


def test_tampered_id_token_hint_is_refused(client, rp, make_account):
    person = make_account()
    id_token = _login(rp, person)["id_token"]
    header, payload, signature = id_token.split(".")
    tampered = ".".join([header, payload[:-4] + "AAAA", signature])
    response = rp.authorize(prompt="none", id_token_hint=tampered)
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_id_token_hint_of_another_person_requires_login(app, rp, make_account):
    alice, bob = make_account("a.alice"), make_account("b.bob")
    alice_token = _login(rp, alice)["id_token"]
    bobs_browser = RelyingParty(app.test_client(), rp.reg)
    _login(bobs_browser, bob)
    response = bobs_browser.authorize(prompt="none", id_token_hint=alice_token)
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_login_rotates_the_session_cookie(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    first = client.get_cookie("idp_session").value
    response = rp.authorize(prompt="login")
    rp.follow_to_callback(rp.login(response, person["identifier"], person["password"]))
    second = client.get_cookie("idp_session").value
    assert first != second


def test_session_cookie_is_httponly_and_lax(client, rp, make_account):
    person = make_account()
    response = rp.authorize()
    login = rp.login(response, person["identifier"], person["password"])
    cookie = [v for k, v in login.headers.items() if k == "Set-Cookie" and "idp_session" in v][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_administrators_console_session_never_logs_into_services(app, client, rp):
    from idp.extensions import db
    from idp.services import accounts

    with app.app_context():
        admin = accounts.create(app.extensions["idp"].passwords, identifier="adm.school",
                                password="Admin-Console-2026", role="admin")
        secret, _ = app.extensions["idp"].sessions.create(admin, amr=["pwd", "otp"],
                                                          acr="eidas1")
        db.session.commit()
    client.set_cookie("idp_session", secret)
    response = rp.authorize()
    assert "/login" in response.headers["Location"]
    assert query_of(rp.authorize(prompt="none").headers["Location"])["error"] == \
        "login_required"


def _resume_after_login(relying, response, person):
    """Log in on the page a request led to; return the answer of the resumed request."""
    login = relying.login(response, person["identifier"], person["password"])
    assert login.status_code == 302 and "/authorize/resume" in login.headers["Location"]
    return relying.browser.get(login.headers["Location"])


def _callback_error(relying, response):
    """The error sent to the client's redirect URI, with its state and iss checked."""
    assert response.status_code == 302, response.data[:500]
    assert response.headers["Location"].startswith(relying.redirect_uri + "?")
    params = query_of(response.headers["Location"])
    assert "code" not in params
    assert params["state"] == relying.state and params["iss"] == "http://localhost"
    return params["error"]


def _sub_claim(sub):
    return json.dumps({"id_token": {"sub": {"value": sub}}})


def test_id_token_hint_of_another_person_then_the_same_login_is_an_error_not_a_loop(
        app, rp, make_account):
    alice, bob = make_account("a.alice"), make_account("b.bob")
    alice_token = _login(rp, alice)["id_token"]
    bobs_browser = RelyingParty(app.test_client(), rp.reg)
    _login(bobs_browser, bob)
    response = bobs_browser.authorize(id_token_hint=alice_token)
    assert "/login?flow=" in response.headers["Location"]
    resumed = _resume_after_login(bobs_browser, response, bob)
    assert _callback_error(bobs_browser, resumed) == "login_required"


def test_id_token_hint_of_another_person_then_that_persons_login_gets_the_code(
        app, rp, make_account):
    alice, bob = make_account("a.alice"), make_account("b.bob")
    alice_token = _login(rp, alice)["id_token"]
    bobs_browser = RelyingParty(app.test_client(), rp.reg)
    _login(bobs_browser, bob)
    response = bobs_browser.authorize(id_token_hint=alice_token)
    callback = bobs_browser.follow_to_callback(_resume_after_login(bobs_browser, response,
                                                                   alice))
    claims = _payload(bobs_browser.token(callback["code"]).json["id_token"])
    assert claims["sub"] == _payload(alice_token)["sub"]


def test_sub_claim_request_of_the_session_user_succeeds_silently(client, rp, make_account):
    person = make_account()
    sub = _payload(_login(rp, person)["id_token"])["sub"]
    callback = rp.follow_to_callback(rp.authorize(prompt="none", claims=_sub_claim(sub)))
    assert _payload(rp.token(callback["code"]).json["id_token"])["sub"] == sub


def test_sub_claim_request_for_another_person_never_gets_a_token_for_the_session_user(
        client, rp, make_account):
    alice, bob = make_account("a.alice"), make_account("b.bob")
    _login(rp, alice)
    bobs_sub = pairwise("rp.example.org", bob["public_id"], "test-salt")
    silent = rp.authorize(prompt="none", claims=_sub_claim(bobs_sub))
    assert _callback_error(rp, silent) == "login_required"
    response = rp.authorize(claims=_sub_claim(bobs_sub))
    assert "/login?flow=" in response.headers["Location"]
    assert _callback_error(rp, _resume_after_login(rp, response, alice)) == "login_required"

    response = rp.authorize(claims=_sub_claim(bobs_sub))
    callback = rp.follow_to_callback(_resume_after_login(rp, response, bob))
    assert _payload(rp.token(callback["code"]).json["id_token"])["sub"] == bobs_sub


def test_sub_claim_request_that_is_not_a_string_is_refused(client, rp):
    response = rp.authorize(claims=json.dumps({"id_token": {"sub": {"value": 42}}}))
    assert _callback_error(rp, response) == "invalid_request"


def _open_session(app, browser, person, acr):
    """A session at another level, as a FranceConnect login gives (its cookie set)."""
    from idp.extensions import db
    from idp.models import Account

    with app.app_context():
        account = db.session.get(Account, person["id"])
        secret, sid = app.extensions["idp"].sessions.create(account, amr=["fc"], acr=acr)
        db.session.commit()
    browser.set_cookie("idp_session", secret)
    return sid


def _essential_acr(*values):
    return json.dumps({"id_token": {"acr": {"essential": True, "values": list(values)}}})


def test_essential_acr_met_by_the_session_is_silent_and_in_the_id_token(app, client, rp,
                                                                       make_account):
    person = make_account()
    _open_session(app, client, person, "eidas2")
    callback = rp.follow_to_callback(rp.authorize(prompt="none",
                                                  claims=_essential_acr("eidas2")))
    assert _payload(rp.token(callback["code"]).json["id_token"])["acr"] == "eidas2"


def test_essential_acr_a_login_can_meet_asks_for_that_login(app, client, rp, make_account):
    person = make_account()
    _open_session(app, client, person, "eidas2")
    silent = rp.authorize(prompt="none", claims=_essential_acr("eidas1"))
    assert _callback_error(rp, silent) == "login_required"
    response = rp.authorize(claims=_essential_acr("eidas1"))
    assert "/login?flow=" in response.headers["Location"]
    callback = rp.follow_to_callback(_resume_after_login(rp, response, person))
    assert _payload(rp.token(callback["code"]).json["id_token"])["acr"] == "eidas1"


def test_essential_acr_a_fresh_login_still_misses_is_access_denied(app, client, rp,
                                                                  make_account):
    from idp.extensions import db
    from idp.oauth import authorize

    person = make_account()
    _open_session(app, client, person, "eidas2")
    response = rp.authorize(claims=_essential_acr("eidas1"))
    flow = parse_qs(urlsplit(response.headers["Location"]).query)["flow"][0]
    # The person logs in through FranceConnect at eidas2 again: a new session, recorded
    # on the flow as the login pages do (idp.auth.views.log_in), then the resume.
    sid = _open_session(app, client, person, "eidas2")
    with app.test_request_context():
        resume = authorize.mark_logged_in(flow, sid)
        db.session.commit()
    assert _callback_error(rp, client.get(resume)) == "access_denied"


def test_select_account_shows_the_login_page_then_returns_a_code(client, rp, make_account):
    parent, pupil = make_account("p.parent"), make_account("e.pupil")
    _login(rp, parent)
    response = rp.authorize(prompt="select_account")
    assert "/login?flow=" in response.headers["Location"]
    callback = rp.follow_to_callback(_resume_after_login(rp, response, pupil))
    claims = _payload(rp.token(callback["code"]).json["id_token"])
    assert claims["sub"] == pairwise("rp.example.org", pupil["public_id"], "test-salt")


def test_prompt_consent_is_answered_without_a_page(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    callback = rp.follow_to_callback(rp.authorize(prompt="consent",
                                                  scope="openid profile offline_access"))
    assert rp.token(callback["code"]).json["refresh_token"]


def test_max_age_of_any_length_is_a_number_of_seconds(client, rp, make_account):
    person = make_account()
    _login(rp, person)
    for max_age in ("1000000000", "99999999999999999999", "9" * 4000, "0010000"):
        callback = rp.follow_to_callback(rp.authorize(max_age=max_age))
        assert "code" in callback, max_age
    response = rp.authorize(max_age="00")
    assert "/login?flow=" in response.headers["Location"]
