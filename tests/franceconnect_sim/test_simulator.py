"""The FranceConnect v2 simulator (examples/franceconnect_sim) through its Flask test client:
discovery, the code flow, client_secret_post, signatures, pairwise sub, userinfo, the
FranceConnect error pages, logout, single sign-on and every fault switch."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet

from examples.franceconnect_sim import create_app
from examples.franceconnect_sim.__main__ import build_config
from examples.franceconnect_sim.__main__ import main as cli_main
from examples.franceconnect_sim.__main__ import parser as cli_parser
from examples.franceconnect_sim.app import ProductionRefused
from examples.franceconnect_sim.identities import PEOPLE
from examples.franceconnect_sim.identities import people_by_login

ISSUER = "http://127.0.0.1:5002/api/v2"
PREFIX = "/api/v2"
SUB_SECRET = "test-sub-secret"
SCHOOL = {
    "client_id": "fs-ecole",
    "client_secret": "secret-ecole-" + "x" * 20,
    "redirect_uris": ["https://fs.example/retour"],
    "post_logout_redirect_uris": ["https://fs.example/deconnexion"],
}
OTHER = {
    "client_id": "fs-autre",
    "client_secret": "secret-autre-" + "y" * 20,
    "redirect_uris": ["https://autre.example/callback?from=fc"],
    "post_logout_redirect_uris": ["https://autre.example/bye"],
    "id_token_alg": "RS256",
    "userinfo_alg": "RS256",
}
PLAIN = {
    "client_id": "fs-json",
    "client_secret": "secret-json-" + "z" * 20,
    "redirect_uris": ["https://json.example/cb"],
    "userinfo_alg": "none",
}
PIVOT = ["given_name", "given_name_array", "family_name", "birthdate", "gender",
         "birthplace", "birthcountry"]
SUB_RE = re.compile(r"^[0-9a-f]{64}v1$")
FAULT_DELAY = 0.05


@pytest.fixture(scope="module")
def sim_app():
    """One simulator (faults enabled) for the module; state is reset around each test."""
    return create_app({"issuer": ISSUER, "clients": [SCHOOL, OTHER, PLAIN], "faults": True,
                       "sub_secret": SUB_SECRET, "timeout_delay": FAULT_DELAY})


@pytest.fixture
def sim(sim_app):
    """The simulator's state; faults, sessions, codes and tokens emptied after the test."""
    state = sim_app.extensions["franceconnect_sim"]
    yield state
    with state.lock:
        state.faults = {}
        for store in (state.sessions, state.codes, state.tokens, state.interactions):
            store.clear()
    state.clock = time.time


@pytest.fixture
def browser(sim_app, sim):
    """A fresh cookie jar: a browser with no FranceConnect session yet."""
    return sim_app.test_client()


@pytest.fixture
def fs(browser):
    """The school's service provider, driving the browser."""
    return ServiceProvider(browser, SCHOOL)


class ServiceProvider:
    """What a FranceConnect service provider does, step by step."""

    def __init__(self, browser, registration: dict):
        self.browser = browser
        self.reg = registration
        self.redirect_uri = registration["redirect_uris"][0]
        self.state = secrets.token_urlsafe(32)
        self.nonce = secrets.token_urlsafe(32)

    def authorize_params(self, **overrides) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.reg["client_id"],
            "redirect_uri": self.redirect_uri,
            "scope": "openid identite_pivot email preferred_username",
            "acr_values": "eidas1",
            "state": self.state,
            "nonce": self.nonce,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **overrides):
        return self.browser.get(f"{PREFIX}/authorize",
                                query_string=self.authorize_params(**overrides))

    def login(self, login: str = "test", password: str = "123", **overrides) -> dict:
        """Authorize, fill the form, and return the callback's query (one value each)."""
        response = self.authorize(**overrides)
        assert response.status_code == 303, response.get_data(as_text=True)
        form = self.browser.get(response.location)
        assert form.status_code == 200
        back = self.browser.post(response.location, data={
            "login": login, "password": password, "action": "login"})
        assert back.status_code == 302, back.get_data(as_text=True)
        return callback(back.location, self.redirect_uri)

    def token(self, code: str, **overrides):
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "client_id": self.reg["client_id"],
                "client_secret": self.reg["client_secret"]}
        data.update(overrides)
        return self.browser.post(f"{PREFIX}/token",
                                 data={k: v for k, v in data.items() if v is not None})

    def tokens(self, login: str = "test", **overrides) -> dict:
        response = self.token(self.login(login, **overrides)["code"])
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def userinfo(self, access_token: str):
        return self.browser.get(f"{PREFIX}/userinfo",
                                headers={"Authorization": f"Bearer {access_token}"})


def callback(location: str, redirect_uri: str) -> dict:
    """The query sent back to the service provider, checked to go to its redirect URI."""
    parts = urlsplit(location)
    expected = urlsplit(redirect_uri)
    assert (parts.scheme, parts.netloc, parts.path) == (
        expected.scheme, expected.netloc, expected.path)
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def keyset(browser) -> KeySet:
    return KeySet.import_key_set(browser.get(f"{PREFIX}/jwks").get_json())


def verify(browser, token: str) -> dict:
    return dict(jwt.decode(token, keyset(browser), algorithms=["ES256", "RS256"]).claims)


def header_of(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def expected_sub(client_id: str, login: str) -> str:
    """FranceConnect's computeSubV1, written again independently."""
    p = people_by_login()[login]
    place = p.birthplace if p.birthcountry == "99100" else ""
    pivot = p.given_name + p.family_name + p.birthdate + p.gender + place + p.birthcountry
    identity = base64.b64encode(hashlib.sha256(pivot.encode()).digest()).decode()
    return hashlib.sha256((client_id + identity + SUB_SECRET).encode()).hexdigest() + "v1"


def set_faults(browser, **faults):
    response = browser.post("/_sim/faults", json=faults)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- discovery and keys ---------------------------------------------------------------------


def test_discovery_document(browser):
    meta = browser.get(f"{PREFIX}/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == ISSUER
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"),
                       ("end_session_endpoint", "/session/end")]:
        assert meta[name] == ISSUER + path
    assert {"openid", "given_name", "family_name", "birthdate", "gender", "birthplace",
            "birthcountry", "email", "preferred_username",
            "identite_pivot"} <= set(meta["scopes_supported"])
    assert meta["response_types_supported"] == ["code"]
    assert meta["acr_values_supported"] == ["eidas1", "eidas2", "eidas3"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert meta["userinfo_signing_alg_values_supported"] == ["ES256", "RS256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    assert meta["subject_types_supported"] == ["pairwise"]
    assert meta["claims_parameter_supported"] is True


def test_jwks_has_one_public_es256_key_and_one_public_rs256_key(browser):
    keys = browser.get(f"{PREFIX}/jwks").get_json()["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "RS256"]
    assert all(k.get("kid") and k["use"] == "sig" for k in keys)
    assert not any("d" in k for k in keys)  # no private part
    assert {k["kty"] for k in keys} == {"EC", "RSA"}


def test_every_page_says_it_is_a_development_simulator(fs, browser):
    home = browser.get("/").get_data(as_text=True)
    form = browser.get(fs.authorize().location).get_data(as_text=True)
    error = fs.authorize(state="short").get_data(as_text=True)
    for page in (home, form, error):
        assert "simulateur de développement" in page
        assert "ne jamais utiliser en production" in page
        assert not re.search(r'(src|href)="(https?:)?//', page)  # no external resource


# -- the authorization code flow ------------------------------------------------------------


def test_code_flow_with_a_test_person(fs, browser):
    response = fs.authorize()
    assert response.location.startswith(f"{PREFIX}/interaction/")
    page = browser.get(response.location).get_data(as_text=True)
    for person in PEOPLE:
        assert person.login in page
    back = browser.post(response.location, data={"login": "test", "password": "123"})
    query = callback(back.location, fs.redirect_uri)
    assert set(query) == {"code", "state"}  # FranceConnect v2 sends no iss
    assert query["state"] == fs.state

    before = int(time.time())
    answer = fs.token(query["code"])
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 60
    assert set(body) == {"access_token", "token_type", "expires_in", "id_token"}

    head = header_of(body["id_token"])
    assert head["alg"] == "ES256"
    assert head["kid"] in {k["kid"] for k in browser.get(f"{PREFIX}/jwks").get_json()["keys"]}
    claims = verify(browser, body["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == SCHOOL["client_id"]
    assert claims["nonce"] == fs.nonce
    assert claims["acr"] == "eidas1"
    assert claims["exp"] == claims["iat"] + 60
    assert before <= claims["auth_time"] <= claims["iat"] <= int(time.time())
    assert SUB_RE.match(claims["sub"])
    assert "amr" not in claims
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    info = fs.userinfo(body["access_token"])
    assert info.status_code == 200
    assert info.mimetype == "application/jwt"
    user = verify(browser, info.get_data(as_text=True))
    assert user["iss"] == ISSUER and user["aud"] == SCHOOL["client_id"]
    assert user["sub"] == claims["sub"]
    assert user["given_name"] == "Angela Claire Louise"
    assert user["given_name_array"] == ["Angela", "Claire", "Louise"]
    assert user["family_name"] == "DUBOIS"
    assert user["birthdate"] == "1962-08-24"
    assert user["gender"] == "female"
    assert user["birthplace"] == "75107"
    assert user["birthcountry"] == "99100"
    assert user["email"]
    assert "preferred_username" not in user  # no usage name


def test_authorize_also_accepts_post(fs, browser):
    response = browser.post(f"{PREFIX}/authorize", data=fs.authorize_params())
    assert response.status_code == 303
    assert response.location.startswith(f"{PREFIX}/interaction/")


def test_amr_only_when_requested_through_the_claims_parameter(fs, browser):
    claims = json.dumps({"id_token": {"amr": {"essential": True}}})
    asked = verify(browser, fs.tokens(claims=claims)["id_token"])
    assert asked["amr"] == ["pwd"]


def test_the_requested_eidas_level_is_returned(fs, browser):
    claims = verify(browser, fs.tokens(acr_values="eidas2")["id_token"])
    assert claims["acr"] == "eidas2"


def test_rs256_client_gets_rs256_id_token_and_userinfo(browser):
    other = ServiceProvider(browser, OTHER)
    body = other.tokens("testfc1")
    assert header_of(body["id_token"])["alg"] == "RS256"
    claims = verify(browser, body["id_token"])
    assert claims["aud"] == "fs-autre"
    info = other.userinfo(body["access_token"]).get_data(as_text=True)
    assert header_of(info)["alg"] == "RS256"
    assert verify(browser, info)["family_name"] == "DUPONT"


def test_redirect_uri_with_a_query_keeps_it(browser):
    other = ServiceProvider(browser, OTHER)
    response = browser.post(other.authorize().location,
                            data={"login": "test", "password": "123"})
    assert parse_qs(urlsplit(response.location).query)["from"] == ["fc"]


def test_wrong_password_shows_the_form_again(fs, browser):
    response = fs.authorize()
    again = browser.post(response.location, data={"login": "test", "password": "1234"})
    assert again.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in again.get_data(as_text=True)
    unknown = browser.post(response.location, data={"login": "nobody", "password": "123"})
    assert unknown.status_code == 401
    ok = browser.post(response.location, data={"login": "test", "password": "123"})
    assert "code" in callback(ok.location, fs.redirect_uri)


def test_cancel_returns_access_denied_to_the_service(fs, browser):
    response = fs.authorize()
    back = browser.post(response.location, data={"action": "cancel"})
    assert back.status_code == 302
    assert back.location == (f"{fs.redirect_uri}?error=access_denied"
                             f"&error_description=User+auth+aborted&state={fs.state}")
    # The interaction is over.
    assert browser.get(response.location).status_code == 400


# -- FranceConnect's error pages ------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {"state": "s" * 31},
    {"nonce": "n" * 31},
    {"state": None},
    {"nonce": None},
    {"acr_values": None},
    {"scope": None},
    {"response_type": "token"},
    {"prompt": "none"},
    {"claims": "{not json"},
], ids=["state-31", "nonce-31", "no-state", "no-nonce", "no-acr", "no-scope",
        "response-type", "prompt-none", "claims-not-json"])
def test_rejected_parameters_show_the_Y030007_page(fs, overrides):
    response = fs.authorize(**overrides)
    assert response.status_code == 400
    assert response.location is None  # a page, never a redirection
    assert response.mimetype == "text/html"
    assert 'id="error-code">Y030007<' in response.get_data(as_text=True)


def test_state_and_nonce_of_32_characters_are_enough(fs):
    response = fs.authorize(state="s" * 32, nonce="n" * 32)
    assert response.status_code == 303


@pytest.mark.parametrize(("overrides", "code"), [
    ({"client_id": "unknown"}, "Y04EA6EF"),
    ({"redirect_uri": "https://fs.example/retour/other"}, "Y04C013C"),
    ({"scope": "identite_pivot email"}, "Y04133E6"),
    ({"acr_values": "eidas9"}, "Y100002"),
])
def test_invalid_client_or_request_shows_an_error_page(fs, overrides, code):
    response = fs.authorize(**overrides)
    assert response.status_code == 400
    assert response.location is None
    assert f'id="error-code">{code}<' in response.get_data(as_text=True)


# -- token endpoint -------------------------------------------------------------------------


def test_token_endpoint_accepts_client_secret_post_only(fs, browser):
    code = fs.login()["code"]
    basic = base64.b64encode(f"{SCHOOL['client_id']}:{SCHOOL['client_secret']}".encode())
    refused = browser.post(f"{PREFIX}/token", headers={"Authorization": f"Basic {basic.decode()}"},
                           data={"grant_type": "authorization_code", "code": code,
                                 "redirect_uri": fs.redirect_uri})
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_client"
    assert fs.token(code, client_secret="wrong").get_json()["error"] == "invalid_client"
    assert fs.token(code, client_secret=None).status_code == 401
    assert fs.token(code, client_id="unknown").status_code == 401
    # None of the refusals consumed the code.
    assert fs.token(code).status_code == 200


def test_code_is_single_use_and_its_reuse_revokes_the_access_token(fs):
    code = fs.login()["code"]
    first = fs.token(code).get_json()
    again = fs.token(code)
    assert again.status_code == 400
    assert again.get_json() == {"error": "invalid_grant",
                                "error_description": "authorization code already consumed"}
    assert fs.userinfo(first["access_token"]).status_code == 401


def test_code_expires_after_30_seconds(fs, sim):
    code = fs.login()["code"]
    start = time.time()
    sim.clock = lambda: start + 31
    assert fs.token(code).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("overrides", "status", "error"), [
    ({"redirect_uri": "https://fs.example/other"}, 400, "invalid_grant"),
    ({"redirect_uri": None}, 400, "invalid_grant"),
    ({"code": "not-a-code"}, 400, "invalid_grant"),
    ({"grant_type": "refresh_token"}, 400, "unsupported_grant_type"),
    ({"client_id": OTHER["client_id"], "client_secret": OTHER["client_secret"]}, 400,
     "invalid_grant"),
])
def test_token_request_errors(fs, overrides, status, error):
    response = fs.token(**{"code": fs.login()["code"], **overrides})
    assert response.status_code == status
    assert response.get_json()["error"] == error


# -- pairwise sub ---------------------------------------------------------------------------


def test_sub_is_pairwise_stable_per_person_and_different_per_service(sim_app, browser):
    school = ServiceProvider(browser, SCHOOL)
    first = verify(browser, school.tokens("claire")["id_token"])["sub"]
    again = verify(browser, school.tokens("claire", prompt="login")["id_token"])["sub"]
    other = ServiceProvider(browser, OTHER).tokens("claire", prompt="login")["id_token"]
    other = verify(browser, other)["sub"]
    pierre = verify(browser, school.tokens("pierre", prompt="login")["id_token"])["sub"]
    assert first == again
    assert first != other and first != pierre
    assert first == expected_sub("fs-ecole", "claire")
    assert other == expected_sub("fs-autre", "claire")
    assert all(SUB_RE.match(s) and len(s) == 66 for s in (first, other, pierre))
    # The same sub from a fresh simulator with the same secret (it survives restarts).
    twin = create_app({"issuer": ISSUER, "clients": [SCHOOL], "sub_secret": SUB_SECRET})
    twin_sub = ServiceProvider(twin.test_client(), SCHOOL).tokens("claire")["id_token"]
    assert jwt.decode(twin_sub, KeySet.import_key_set(
        twin.test_client().get(f"{PREFIX}/jwks").get_json())).claims["sub"] == first


# -- userinfo -------------------------------------------------------------------------------


@pytest.mark.parametrize(("scope", "claims"), [
    ("openid identite_pivot", PIVOT),
    ("openid given_name family_name", ["given_name", "given_name_array", "family_name"]),
    ("openid email preferred_username", ["email", "preferred_username"]),
    ("openid profile", ["given_name", "given_name_array", "family_name", "birthdate",
                        "gender", "preferred_username"]),
    ("openid birth", ["birthplace", "birthcountry"]),
    ("openid", []),
])
def test_userinfo_claims_follow_the_scopes(fs, browser, scope, claims):
    body = fs.tokens("claire", scope=scope)
    user = verify(browser, fs.userinfo(body["access_token"]).get_data(as_text=True))
    assert set(user) == {"iss", "aud", "iat", "sub", *claims}
    if "preferred_username" in claims:
        assert user["preferred_username"] == "DURAND"
    if "family_name" in claims:
        assert user["family_name"] == "LEGRAND"


def test_userinfo_needs_a_valid_access_token(fs, browser, sim):
    assert browser.get(f"{PREFIX}/userinfo").status_code == 401
    refused = fs.userinfo("not-a-token")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    token = fs.tokens()["access_token"]
    as_query = browser.get(f"{PREFIX}/userinfo", query_string={"access_token": token})
    assert as_query.status_code == 200
    start = time.time()
    sim.clock = lambda: start + 61
    assert fs.userinfo(token).status_code == 401


def test_userinfo_as_plain_json_when_the_client_says_none(browser):
    plain = ServiceProvider(browser, PLAIN)
    body = plain.tokens("pierre")
    info = plain.userinfo(body["access_token"])
    assert info.mimetype == "application/json"
    user = info.get_json()
    assert user["family_name"] == "MARTIN" and user["birthplace"] == "13055"
    assert user["sub"] == verify(browser, body["id_token"])["sub"]


# -- single sign-on -------------------------------------------------------------------------


def test_a_second_authorize_reuses_the_session_unless_prompt_login(fs, browser):
    first = fs.tokens("3_melaine")
    first_claims = verify(browser, first["id_token"])
    # Same browser, no prompt: straight back with a code.
    again = fs.authorize()
    assert again.status_code == 302
    code = callback(again.location, fs.redirect_uri)["code"]
    second = verify(browser, fs.token(code).get_json()["id_token"])
    assert second["sub"] == first_claims["sub"]
    assert second["auth_time"] == first_claims["auth_time"]
    # Another service provider too (FranceConnect's SSO spans services).
    other = ServiceProvider(browser, OTHER).authorize()
    assert other.status_code == 302 and "code=" in other.location
    # prompt=login forces the form; eidas2 is not served from the session.
    assert fs.authorize(prompt="login").status_code == 303
    assert fs.authorize(acr_values="eidas2").status_code == 303


# -- logout ---------------------------------------------------------------------------------


def test_session_end_redirects_with_state_and_ends_the_session(fs, browser):
    body = fs.tokens()
    logout_state = secrets.token_urlsafe(32)
    response = browser.get(f"{PREFIX}/session/end", query_string={
        "id_token_hint": body["id_token"], "state": logout_state,
        "post_logout_redirect_uri": SCHOOL["post_logout_redirect_uris"][0]})
    assert response.status_code == 302
    assert response.location == f"https://fs.example/deconnexion?state={logout_state}"
    assert "fc_sim_sso=;" in response.headers["Set-Cookie"]
    assert fs.authorize().status_code == 303  # the form again
    assert fs.userinfo(body["access_token"]).status_code == 401


def test_session_end_without_a_redirect_shows_a_page(fs, browser):
    body = fs.tokens()
    response = browser.get(f"{PREFIX}/session/end",
                           query_string={"id_token_hint": body["id_token"]})
    assert response.status_code == 200
    assert "déconnecté" in response.get_data(as_text=True)


def test_session_end_checks_its_parameters(fs, browser):
    body = fs.tokens()
    target = SCHOOL["post_logout_redirect_uris"][0]
    missing = browser.get(f"{PREFIX}/session/end",
                          query_string={"post_logout_redirect_uri": target})
    assert missing.status_code == 400 and missing.location is None
    forged = jwt.encode({"alg": "ES256", "kid": header_of(body["id_token"])["kid"]},
                        verify(browser, body["id_token"]), ECKey.generate_key("P-256"))
    refused = browser.get(f"{PREFIX}/session/end", query_string={
        "id_token_hint": forged, "post_logout_redirect_uri": target})
    assert refused.status_code == 400 and refused.location is None
    unregistered = browser.get(f"{PREFIX}/session/end", query_string={
        "id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    assert unregistered.status_code == 400
    assert 'id="error-code">Y04CFAEF<' in unregistered.get_data(as_text=True)
    # None of these ended the session.
    assert fs.authorize().status_code == 302


# -- fault injection ------------------------------------------------------------------------


def test_fault_endpoints_exist_only_when_enabled():
    quiet = create_app({"issuer": ISSUER, "clients": [SCHOOL]}).test_client()
    assert quiet.post("/_sim/faults", json={"token": "500"}).status_code == 404
    assert quiet.post("/_sim/rotate-keys").status_code == 404


def test_faults_are_set_shown_checked_and_reset(browser):
    assert set_faults(browser, token="500", userinfo="json") == {"token": "500",
                                                                 "userinfo": "json"}
    assert browser.get("/_sim/faults").get_json() == {"token": "500", "userinfo": "json"}
    for bad in ({"token": "explode"}, {"nope": "500"}, {"delay": -1}, ["token"]):
        assert browser.post("/_sim/faults", json=bad).status_code == 400
    assert set_faults(browser) == {}
    assert browser.get("/_sim/faults").get_json() == {}


def test_authorize_fault_access_denied(fs, browser):
    set_faults(browser, authorize="access_denied")
    response = fs.authorize()
    assert response.status_code == 302
    assert callback(response.location, fs.redirect_uri) == {
        "error": "access_denied", "error_description": "User auth aborted", "state": fs.state}


def test_token_fault_500(fs, browser):
    code = fs.login()["code"]
    set_faults(browser, token="500")
    response = fs.token(code)
    assert response.status_code == 500
    assert response.get_json()["error"] == "server_error"


def test_token_fault_timeout_sleeps_longer_than_the_delay(fs, browser):
    code = fs.login()["code"]
    set_faults(browser, token="timeout")
    start = time.monotonic()
    response = fs.token(code)
    assert time.monotonic() - start > FAULT_DELAY
    assert response.status_code == 200  # too late for a client that gave up
    set_faults(browser, userinfo="timeout", delay=0.1)
    start = time.monotonic()
    assert fs.userinfo(response.get_json()["access_token"]).status_code == 200
    assert time.monotonic() - start > 0.1


@pytest.mark.parametrize(("fault", "exception"), [
    ("bad_signature", BadSignatureError),
    ("unknown_kid", (InvalidKeyIdError, ValueError)),
])
def test_token_faults_that_break_the_signature(fs, browser, fault, exception):
    code = fs.login()["code"]
    set_faults(browser, token=fault)
    id_token = fs.token(code).get_json()["id_token"]
    kids = {k["kid"] for k in browser.get(f"{PREFIX}/jwks").get_json()["keys"]}
    assert (header_of(id_token)["kid"] in kids) == (fault == "bad_signature")
    with pytest.raises(exception):
        verify(browser, id_token)


def test_token_fault_alg_none(fs, browser):
    code = fs.login()["code"]
    set_faults(browser, token="alg_none")
    id_token = fs.token(code).get_json()["id_token"]
    assert header_of(id_token)["alg"] == "none"
    assert id_token.endswith(".")
    with pytest.raises((JoseError, ValueError)):
        verify(browser, id_token)


@pytest.mark.parametrize("fault", ["wrong_nonce", "expired", "wrong_iss", "wrong_aud"])
def test_token_faults_on_the_claims(fs, browser, fault):
    code = fs.login()["code"]
    set_faults(browser, token=fault)
    claims = verify(browser, fs.token(code).get_json()["id_token"])  # validly signed
    checks = {
        "wrong_nonce": claims["nonce"] != fs.nonce,
        "expired": claims["exp"] < time.time() - 600,
        "wrong_iss": claims["iss"] != ISSUER,
        "wrong_aud": claims["aud"] != SCHOOL["client_id"],
    }
    assert checks.pop(fault)
    assert not any(checks.values())  # one thing wrong at a time


def test_userinfo_faults(fs, browser):
    token = fs.tokens()["access_token"]
    set_faults(browser, userinfo="500")
    assert fs.userinfo(token).status_code == 500
    set_faults(browser, userinfo="bad_signature")
    signed = fs.userinfo(token)
    assert signed.mimetype == "application/jwt"
    with pytest.raises(BadSignatureError):
        verify(browser, signed.get_data(as_text=True))
    set_faults(browser, userinfo="json")
    plain = fs.userinfo(token)
    assert plain.mimetype == "application/json"
    assert SUB_RE.match(plain.get_json()["sub"])
    set_faults(browser)
    assert fs.userinfo(token).mimetype == "application/jwt"


def test_rotate_keys_drops_the_old_kid(fs, browser):
    before = fs.tokens()["id_token"]
    old = {k["kid"] for k in browser.get(f"{PREFIX}/jwks").get_json()["keys"]}
    rotated = browser.post("/_sim/rotate-keys").get_json()["kids"]
    now = {k["kid"] for k in browser.get(f"{PREFIX}/jwks").get_json()["keys"]}
    assert now == set(rotated) and not now & old
    with pytest.raises((InvalidKeyIdError, ValueError)):
        verify(browser, before)
    after = fs.tokens(prompt="login")["id_token"]
    assert header_of(after)["kid"] in now
    assert verify(browser, after)["aud"] == SCHOOL["client_id"]


# -- configuration and command line ---------------------------------------------------------


def test_create_app_rejects_bad_configuration():
    with pytest.raises(ValueError, match="client"):
        create_app({"issuer": ISSUER, "clients": []})
    with pytest.raises(ValueError, match="alg"):
        create_app({"issuer": ISSUER, "clients": [SCHOOL], "alg": "HS256"})
    with pytest.raises(ValueError, match="redirect_uri"):
        create_app({"issuer": ISSUER, "clients": [{"client_id": "a", "client_secret": "b"}]})
    with pytest.raises(ValueError, match="userinfo_alg"):
        create_app({"issuer": ISSUER, "clients": [dict(SCHOOL, userinfo_alg="HS256")]})


def test_refuses_to_run_in_production(monkeypatch, capsys):
    monkeypatch.setenv("IDP_ENV", "production")
    with pytest.raises(ProductionRefused):
        create_app({"issuer": ISSUER, "clients": [SCHOOL]})
    assert cli_main(["--client-id", "a", "--client-secret", "b",
                     "--redirect-uri", "https://fs.example/cb"]) == 2
    assert "production" in capsys.readouterr().err


def test_command_line_builds_the_configuration(tmp_path):
    args = cli_parser().parse_args([
        "--port", "5002", "--issuer", ISSUER, "--client-id", "fs", "--client-secret", "s",
        "--redirect-uri", "https://fs.example/cb", "--redirect-uri", "https://fs.example/cb2",
        "--post-logout-redirect-uri", "https://fs.example/out", "--alg", "RS256"])
    config = build_config(args)
    assert config["issuer"] == ISSUER and config["alg"] == "RS256"
    assert config["faults"] is False
    assert config["clients"] == [{
        "client_id": "fs", "client_secret": "s",
        "redirect_uris": ["https://fs.example/cb", "https://fs.example/cb2"],
        "post_logout_redirect_uris": ["https://fs.example/out"]}]
    registrations = tmp_path / "clients.json"
    registrations.write_text(json.dumps({"clients": [SCHOOL, OTHER]}), encoding="utf-8")
    config = build_config(cli_parser().parse_args(["--clients", str(registrations),
                                                   "--port", "5099", "--faults"]))
    assert [c["client_id"] for c in config["clients"]] == ["fs-ecole", "fs-autre"]
    assert config["issuer"] == "http://127.0.0.1:5099/api/v2" and config["faults"] is True
    app = create_app(config)
    assert sorted(app.extensions["franceconnect_sim"].clients) == ["fs-autre", "fs-ecole"]
    with pytest.raises(ValueError):
        build_config(cli_parser().parse_args([]))
    with pytest.raises(ValueError):
        build_config(cli_parser().parse_args(["--client-id", "fs"]))
