"""The provider as a separate gunicorn process, driven by an independent relying party:
pyoidc (`oic`, the OpenID Foundation-certified RP library by Roland Hedberg), with its
own discovery, JWKS handling and ID token / logout token verification. No code of the
application is imported here; only HTTP on 127.0.0.1 is used.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from jwkest.jws import left_hash
from oic import rndstr
from oic.oauth2.grant import Token
from oic.oauth2.message import ErrorResponse
from oic.oic import Client
from oic.oic.message import AccessTokenResponse
from oic.oic.message import AuthorizationErrorResponse
from oic.oic.message import AuthorizationRequest
from oic.oic.message import AuthorizationResponse
from oic.oic.message import BackChannelLogoutRequest
from oic.oic.message import EndSessionRequest
from oic.oic.message import IdToken
from oic.oic.message import OpenIDSchema
from oic.oic.message import ProviderConfigurationResponse
from oic.oic.message import RegistrationResponse
from oic.oic.message import TokenErrorResponse
from oic.oic.message import verify_id_token
from oic.utils.authn.client import CLIENT_AUTHN_METHOD
from oic.utils.settings import OicClientSettings

pytestmark = pytest.mark.live

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SIGN = {"sign": "RS256"}


class RelyingParty:
    """A pyoidc Client configured from discovery and the CLI's registration."""

    def __init__(self, live, browser, authn_method="client_secret_basic"):
        self.live = live
        self.browser = browser
        self.authn_method = authn_method
        self.client_id, client_secret = live.clients[authn_method]
        http = requests.Session()
        http.trust_env = False
        settings = OicClientSettings(verify_ssl=live.ca_file, timeout=10,
                                     requests_session=http)
        self.client = Client(client_authn_method=CLIENT_AUTHN_METHOD, settings=settings)
        self.provider_info = self.client.provider_config(live.issuer)
        self.client.store_registration_info(RegistrationResponse(
            client_id=self.client_id,
            client_secret=client_secret,
            redirect_uris=[live.redirect_uri],
            post_logout_redirect_uris=[live.post_logout_redirect_uri],
            token_endpoint_auth_method=authn_method,
        ))
        self.client.redirect_uris = [live.redirect_uri]

    # -- front channel --------------------------------------------------------------------

    def authorization_url(self, scope=None, pkce=False, **extra) -> dict:
        """A fresh authorization request; returns state, nonce, verifier and url."""
        request = {
            "response_type": "code",
            "scope": scope or self.live.scope,
            "state": rndstr(24),
            "nonce": rndstr(24),
            "redirect_uri": self.live.redirect_uri,
            **extra,
        }
        verifier = None
        if pkce:
            challenge, verifier = self.client.add_code_challenge()
            assert challenge["code_challenge_method"] == "S256"
            request.update(challenge)
        url, _, _, _ = self.client.request_info(
            AuthorizationRequest, method="GET", request_args=request
        )
        assert url.startswith(self.provider_info["authorization_endpoint"] + "?")
        return {"url": url, "state": request["state"], "nonce": request["nonce"],
                "verifier": verifier}

    def authorize(self, scope=None, pkce=False, **extra):
        """Send the browser through the provider; return (request, parsed response)."""
        request = self.authorization_url(scope=scope, pkce=pkce, **extra)
        self.browser.visited.clear()
        location = self.browser.navigate(request["url"])
        assert location.startswith(self.live.redirect_uri + "?"), location
        response = self.client.parse_response(
            AuthorizationResponse, info=location, sformat="urlencoded"
        )
        # The provider identifies itself in the response (RFC 9207); pyoidc compared it.
        assert response["iss"] == self.live.issuer
        assert response["state"] == request["state"]
        return request, response

    # -- back channel ---------------------------------------------------------------------

    def redeem(self, request, authn_method=None):
        """Exchange the code of the authorization `request` for tokens."""
        args = {"redirect_uri": self.live.redirect_uri}
        if request["verifier"]:
            args["code_verifier"] = request["verifier"]
        return self.client.do_access_token_request(
            state=request["state"], request_args=args,
            authn_method=authn_method or self.authn_method, algs=SIGN,
        )

    def refresh(self, token_response, authn_method=None):
        """Use the refresh token of a given token response."""
        return self.client.do_access_token_refresh(
            token=Token(token_response), authn_method=authn_method or self.authn_method,
            algs=SIGN,
        )

    def userinfo(self, access_token):
        """GET the UserInfo endpoint with a bearer token."""
        return self.client.do_user_info_request(method="GET", token=access_token)

    def check_tokens(self, request, tokens) -> IdToken:
        """What a careful RP checks beyond pyoidc's automatic verification."""
        assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
        assert tokens["token_type"].lower() == "bearer"
        id_token = tokens["id_token"]
        # pyoidc verified the signature against the keys of jwks_uri, iss, aud, exp, iat;
        # verify again with the access token so that at_hash is checked too.
        again = verify_id_token(
            {"id_token": tokens["id_token_jwt"], "access_token": tokens["access_token"]},
            check_hash=True, keyjar=self.client.keyjar, algs=SIGN,
            iss=self.live.issuer, client_id=self.client_id,
        )
        assert again.to_dict() == id_token.to_dict()
        assert id_token["at_hash"] == left_hash(tokens["access_token"], "HS256")
        assert id_token.jws_header["alg"] == "RS256"
        assert id_token.jws_header.get("kid")
        assert id_token["iss"] == self.live.issuer
        assert id_token["aud"] == [self.client_id]
        if request is not None:
            assert id_token["nonce"] == request["nonce"]
        for claim in ("sub", "auth_time", "sid", "iat", "exp"):
            assert claim in id_token, claim
        assert id_token["sub"] != self.live.identifier  # pairwise, not the login name
        return id_token


def is_error(message, code: str) -> bool:
    """Whether a pyoidc response is the OAuth error `code`."""
    return isinstance(message, ErrorResponse) and message.get("error") == code


@pytest.fixture
def rp(live_provider, browser):
    """A pyoidc relying party with client_secret_basic, and its browser."""
    return RelyingParty(live_provider, browser)


# -- tests ------------------------------------------------------------------------------


def test_discovery_document_is_accepted_by_pyoidc(live_provider, rp):
    info = rp.provider_info
    assert isinstance(info, ProviderConfigurationResponse)
    assert info.verify() is True
    # Independently of the client object: the raw document verifies as well.
    raw = requests.get(f"{live_provider.issuer}/.well-known/openid-configuration",
                       verify=live_provider.ca_file, timeout=10)
    assert raw.status_code == 200
    assert raw.headers["Content-Type"].startswith("application/json")
    assert ProviderConfigurationResponse().from_json(raw.text).verify() is True

    assert info["issuer"] == live_provider.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "end_session_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert info[name].startswith(live_provider.issuer + "/"), (name, info[name])
    assert rp.client.authorization_endpoint == info["authorization_endpoint"]
    assert rp.client.token_endpoint == info["token_endpoint"]
    assert info["response_types_supported"] == ["code"]
    assert "S256" in info["code_challenge_methods_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        info["token_endpoint_auth_methods_supported"]
    )
    assert "RS256" in info["id_token_signing_alg_values_supported"]
    assert info["backchannel_logout_supported"] is True
    assert info["backchannel_logout_session_supported"] is True
    assert info["authorization_response_iss_parameter_supported"] is True
    # pyoidc loaded the published keys from jwks_uri for this issuer.
    keys = rp.client.keyjar.get_verify_key(owner=live_provider.issuer, key_type="RSA")
    assert keys and all(k.kid for k in keys)


def test_code_flow_with_client_secret_basic(live_provider, rp):
    request, response = rp.authorize(scope="openid profile email")
    assert rp.browser.saw_login_page()
    tokens = rp.redeem(request, authn_method="client_secret_basic")
    id_token = rp.check_tokens(request, tokens)
    assert "refresh_token" in tokens  # a confidential client gets one

    info = rp.client.do_user_info_request(method="GET", state=request["state"])
    assert isinstance(info, OpenIDSchema) and not isinstance(info, ErrorResponse), info
    assert info["sub"] == id_token["sub"]
    assert info["given_name"] == "Paul"
    assert info["family_name"] == "LIVE"
    assert info["email"] == "paul@example.org"


def test_code_flow_with_client_secret_post_and_pkce(live_provider, browser):
    rp = RelyingParty(live_provider, browser, authn_method="client_secret_post")
    request, response = rp.authorize(scope="openid email", pkce=True)
    assert request["verifier"]
    tokens = rp.redeem(request, authn_method="client_secret_post")
    id_token = rp.check_tokens(request, tokens)
    info = rp.userinfo(tokens["access_token"])
    assert not isinstance(info, ErrorResponse), info.to_dict()
    assert info["sub"] == id_token["sub"]
    assert info["email"] == "paul@example.org"


def test_refresh_token_rotation_and_reuse_revokes_the_chain(live_provider, rp):
    request, _ = rp.authorize(scope="openid profile offline_access", pkce=True)
    first = rp.redeem(request)
    id_token = rp.check_tokens(request, first)
    assert first.get("refresh_token")

    second = rp.refresh(first)
    assert isinstance(second, AccessTokenResponse), second.to_dict()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    refreshed = rp.check_tokens(None, second)
    assert refreshed["sub"] == id_token["sub"]
    assert refreshed["auth_time"] == id_token["auth_time"]
    assert "nonce" not in refreshed
    assert not isinstance(rp.userinfo(second["access_token"]), ErrorResponse)

    # The new refresh token works...
    third = rp.refresh(second)
    assert isinstance(third, AccessTokenResponse), third.to_dict()
    # ...the rotated one is refused, and presenting it revokes the whole chain.
    reused = rp.refresh(first)
    assert isinstance(reused, TokenErrorResponse), reused.to_dict()
    assert reused["error"] == "invalid_grant"
    after = rp.refresh(third)
    assert isinstance(after, TokenErrorResponse), after.to_dict()
    assert after["error"] == "invalid_grant"
    assert is_error(rp.userinfo(third["access_token"]), "invalid_token")


def test_code_replay_fails_and_revokes_the_first_tokens(live_provider, rp):
    request, _ = rp.authorize(scope="openid profile", pkce=True)
    first = rp.redeem(request)
    rp.check_tokens(request, first)
    assert not isinstance(rp.userinfo(first["access_token"]), ErrorResponse)

    replay = rp.redeem(request)
    assert isinstance(replay, TokenErrorResponse), replay.to_dict()
    assert replay["error"] == "invalid_grant"
    # RFC 6749 4.1.2 / RFC 9700 2.1.1: tokens issued for the code are revoked.
    assert is_error(rp.userinfo(first["access_token"]), "invalid_token")
    if first.get("refresh_token"):
        dead = rp.refresh(first)
        assert isinstance(dead, TokenErrorResponse) and dead["error"] == "invalid_grant"


def test_rp_initiated_logout_sends_a_verified_backchannel_logout_token(live_provider, rp):
    live = live_provider
    request, _ = rp.authorize(scope="openid profile")
    tokens = rp.redeem(request)
    id_token = rp.check_tokens(request, tokens)
    seen = len(live.rp.requests)

    state = rndstr(16)
    url, _, _, _ = rp.client.request_info(
        EndSessionRequest, method="GET",
        request_args={"id_token_hint": tokens["id_token_jwt"],
                      "post_logout_redirect_uri": live.post_logout_redirect_uri,
                      "state": state},
    )
    assert url.startswith(rp.provider_info["end_session_endpoint"] + "?")
    rp.browser.visited.clear()
    location = rp.browser.navigate(url)
    target = urlsplit(location)
    assert f"{target.scheme}://{target.netloc}{target.path}" == live.post_logout_redirect_uri
    assert parse_qs(target.query) == {"state": [state]}

    posts = live.rp.wait_for("POST", "/bcl", after=seen)
    assert len(posts) == 1, posts
    post = posts[0]
    assert post.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
    form = post.form()
    assert set(form) == {"logout_token"}

    message = BackChannelLogoutRequest(logout_token=form["logout_token"])
    assert message.verify(keyjar=rp.client.keyjar, algs=SIGN,
                          iss=live.issuer, aud=rp.client_id) is True
    logout = message["logout_token"]  # verified against the JWKS by pyoidc
    assert logout.jws_header["typ"] == "logout+jwt"
    assert logout.jws_header["alg"] == "RS256"
    assert logout.jws_header.get("kid")
    assert logout["iss"] == live.issuer
    assert logout["aud"] == [rp.client_id]
    assert abs(logout["iat"] - time.time()) < 60
    assert logout["jti"]
    assert logout["sid"] == id_token["sid"]
    assert logout["sub"] == id_token["sub"]
    assert logout["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in logout

    # The session's (online) tokens died with it.
    assert is_error(rp.userinfo(tokens["access_token"]), "invalid_token")

    # No session any more: a silent request comes back with login_required.
    silent = rp.authorization_url(scope="openid", prompt="none")
    rp.browser.visited.clear()
    location = rp.browser.navigate(silent["url"])
    assert not rp.browser.saw_login_page()
    assert location.startswith(live.redirect_uri + "?")
    error = rp.client.parse_response(AuthorizationResponse, info=location,
                                     sformat="urlencoded")
    assert isinstance(error, AuthorizationErrorResponse), error.to_dict()
    assert error["error"] == "login_required"
    assert error["state"] == silent["state"]
    assert parse_qs(urlsplit(location).query)["iss"] == [live.issuer]


def test_prompt_none_with_a_session_returns_a_code_silently(live_provider, rp):
    request, _ = rp.authorize(scope="openid profile", pkce=True)
    assert rp.browser.saw_login_page()
    first = rp.check_tokens(request, rp.redeem(request))

    again, response = rp.authorize(scope="openid profile", pkce=True, prompt="none")
    assert not rp.browser.saw_login_page()
    assert "code" in response
    second = rp.check_tokens(again, rp.redeem(again))
    assert second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"]
    assert second["sid"] == first["sid"]
    assert second["nonce"] == again["nonce"] != first["nonce"]
