"""Malformed values on every public endpoint and form: never a 500, never a changed row."""

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from idp.extensions import db
from idp.models import Account
from idp.models import AuthorizationCode
from idp.models import Client
from idp.models import SigningKey
from idp.models import SsoSession
from idp.models import Token

PROTECTED = (Account, Client, Token, AuthorizationCode, SigningKey, SsoSession)

# Strings that break naive code: control characters, huge, unicode, JSON-ish, URLs.
nasty = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF,
                                   exclude_categories=("Cs",)), max_size=200),
    st.sampled_from(["", " ", "\x00", "null", "{}", "[]", '{"a":', "%00", "../../etc",
                     "https://evil.example/cb", "javascript:alert(1)", "a" * 5000,
                     "openid openid", "S256", "none", "0", "-1", "99999999999999999999"]),
)

ENDPOINTS = {
    ("GET", "/authorize"): ["response_type", "client_id", "redirect_uri", "scope", "state",
                            "nonce", "prompt", "max_age", "code_challenge",
                            "code_challenge_method", "claims", "id_token_hint", "login_hint"],
    ("POST", "/authorize"): ["response_type", "client_id", "redirect_uri", "scope", "claims"],
    ("POST", "/token"): ["grant_type", "code", "redirect_uri", "code_verifier", "client_id",
                         "client_secret", "refresh_token", "client_assertion",
                         "client_assertion_type", "scope"],
    ("GET", "/userinfo"): ["access_token"],
    ("POST", "/userinfo"): ["access_token"],
    ("POST", "/revoke"): ["token", "token_type_hint", "client_id", "client_secret"],
    ("POST", "/introspect"): ["token", "client_id", "client_secret"],
    ("GET", "/logout"): ["id_token_hint", "post_logout_redirect_uri", "state", "client_id"],
    ("POST", "/logout/confirm"): ["logout", "csrf_token"],
    ("GET", "/authorize/resume"): ["flow"],
    ("GET", "/login"): ["flow"],
    ("POST", "/login"): ["identifier", "password", "flow", "csrf_token"],
    ("POST", "/compte/deconnexion"): ["csrf_token"],
}


def _snapshot():
    return {m.__tablename__: db.session.execute(db.select(m)).scalars().all().__len__()
            for m in PROTECTED}


@pytest.mark.parametrize(("method", "path"), sorted(ENDPOINTS))
def test_endpoint_survives_malformed_input(app, rp, method, path):
    names = ENDPOINTS[(method, path)]
    browser = app.test_client()
    # Real values mixed in, so that requests get past the first checks.
    real = {"client_id": rp.reg["client_id"], "redirect_uri": rp.redirect_uri,
            "scope": "openid profile", "response_type": "code",
            "grant_type": "authorization_code", "code_challenge_method": "S256"}
    strategies = {n: st.one_of(nasty, st.just(real[n])) if n in real else nasty
                  for n in names}

    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(values=st.fixed_dictionaries({}, optional=strategies),
           authorization=st.one_of(st.none(), nasty))
    def check(values, authorization):
        headers = {}
        if authorization is not None:
            # HTTP cannot carry line breaks in a header; anything else goes.
            raw = authorization.encode("utf-8", "surrogatepass")[:500].decode("latin-1")
            headers["Authorization"] = raw.replace("\r", "").replace("\n", "")
        with app.app_context():
            before = _snapshot()
        if method == "GET":
            response = browser.get(path, query_string=values, headers=headers)
        else:
            response = browser.post(path, data=values, headers=headers)
        assert response.status_code < 500, (values, response.data[:300])
        assert b"Traceback" not in response.data
        with app.app_context():
            assert _snapshot() == before

    check()
