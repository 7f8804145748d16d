"""Single sign-on: prompt, max_age, id_token_hint and the session cookie."""

import base64
import json
import time

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
