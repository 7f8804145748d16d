"""Authorization endpoint: what is refused, and where the refusal goes."""

import base64
import json
from urllib.parse import urlencode

import pytest

from tests.conftest import query_of


def _error_of(rp, response):
    """The error of a redirect to the client, checked to carry state and iss."""
    assert response.status_code == 302, response.data[:500]
    location = response.headers["Location"]
    assert location.startswith(rp.redirect_uri + "?"), location
    params = query_of(location)
    assert params["state"] == rp.state and params["iss"] == "http://localhost"
    assert "code" not in params
    return params["error"]


def test_unknown_client_shows_an_error_page_and_never_redirects(client, rp):
    response = client.get("/authorize?" + urlencode(rp.authorize_params(client_id="nope")))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Demande de connexion invalide" in response.text


def test_unregistered_redirect_uri_shows_an_error_page(client, rp):
    params = rp.authorize_params(redirect_uri="https://evil.example.com/callback")
    response = client.get("/authorize?" + urlencode(params))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_redirect_uri_must_match_exactly(client, rp):
    for variant in ("https://rp.example.org/callback/", "https://rp.example.org/callback?x=1",
                    "https://RP.example.org/callback", "http://rp.example.org/callback"):
        response = client.get("/authorize?" + urlencode(rp.authorize_params(redirect_uri=variant)))
        assert response.status_code == 400, variant


def test_missing_redirect_uri_is_refused_on_a_page(client, rp):
    params = rp.authorize_params()
    del params["redirect_uri"]
    response = client.get("/authorize?" + urlencode(params))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_repeated_parameter_is_refused_on_a_page(client, rp):
    query = urlencode(rp.authorize_params()) + "&client_id=other"
    response = client.get("/authorize?" + query)
    assert response.status_code == 400


def test_repeated_redirect_uri_is_refused_on_a_page_even_when_both_are_registered(
        client, make_client):
    from tests.conftest import RelyingParty

    reg = make_client(redirect_uris=["https://rp.example.org/callback",
                                     "https://rp.example.org/other"])
    relying = RelyingParty(client, reg)
    query = urlencode(relying.authorize_params()) + "&redirect_uri=" + \
        "https%3A%2F%2Frp.example.org%2Fother"
    response = client.get("/authorize?" + query)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Paramètre répété" in response.text


@pytest.mark.parametrize("repeated", [
    "request=xyz&request=abc",
    "request_uri=https%3A%2F%2Fa.example%2Fr&request_uri=https%3A%2F%2Fevil.example%2Fr",
    "response_mode=query&response_mode=fragment", "claims=%7B%7D&claims=%7B%7D",
    "id_token_hint={id_token}&id_token_hint=b", "login_hint=a&login_hint=b",
    "acr_values=eidas1&acr_values=eidas3", "ui_locales=fr&ui_locales=en",
    "display=page&display=popup", "prompt=login&prompt=none", "max_age=0&max_age=9",
    "nonce=n2", "scope=openid", "response_type=code", "code_challenge_method=plain",
    "state=other",
])
def test_any_repeated_parameter_goes_back_as_invalid_request(client, rp, make_account,
                                                              repeated):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    id_token = rp.token(callback["code"]).json["id_token"]
    query = urlencode(rp.authorize_params()) + "&" + repeated.format(id_token=id_token)
    response = client.get("/authorize?" + query)
    assert _error_of(rp, response) == "invalid_request"


def test_a_parameter_sent_empty_counts_as_omitted_not_as_a_repeat(client, rp, make_account):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    params = rp.authorize_params()
    del params["state"]
    # Empty values beside real ones, and a state sent empty: no state comes back.
    query = "scope=&nonce=&" + urlencode(params) + "&display=&state="
    response = client.get("/authorize?" + query)
    assert response.status_code == 302
    back = query_of(response.headers["Location"])
    assert "code" in back and "state" not in back


def test_a_parameter_both_in_the_query_and_the_form_counts_as_repeated(client, rp):
    params = rp.authorize_params()
    response = client.post("/authorize?display=page", data=dict(params, display="touch"))
    assert _error_of(rp, response) == "invalid_request"


def test_missing_response_type_is_invalid_request(client, rp):
    params = rp.authorize_params()
    del params["response_type"]
    response = client.get("/authorize?" + urlencode(params))
    assert _error_of(rp, response) == "invalid_request"


def test_missing_scope_is_invalid_request_not_an_implicit_openid(client, rp, make_account):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    for scope in (None, "", " "):
        response = rp.authorize(scope=scope)
        assert _error_of(rp, response) == "invalid_request", repr(scope)


def test_scope_without_openid_is_invalid_scope(client, rp):
    assert _error_of(rp, rp.authorize(scope="profile email")) == "invalid_scope"


def test_unsupported_response_type_goes_back_with_state_and_iss(client, rp):
    response = client.get("/authorize?" + urlencode(rp.authorize_params(response_type="token")))
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "unsupported_response_type"
    assert params["state"] == rp.state


def test_public_client_without_pkce_is_refused(client, make_client):
    from tests.conftest import RelyingParty

    public = RelyingParty(client, make_client(public=True))
    response = client.get(
        "/authorize?" + urlencode(public.authorize_params(code_challenge=None,
                                                          code_challenge_method=None))
    )
    params = query_of(response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert params["iss"] == "http://localhost"


def test_plain_pkce_method_is_refused(client, rp):
    response = rp.authorize(code_challenge_method="plain")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_request_objects_are_declined_explicitly(client, rp):
    response = rp.authorize(request="eyJhbGciOiJub25lIn0.e30.")
    assert query_of(response.headers["Location"])["error"] == "request_not_supported"


def test_malformed_claims_parameter_is_refused(client, rp):
    response = rp.authorize(claims="{not json")
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_malformed_acr_values_in_the_claims_parameter_are_refused(client, rp):
    claims = {"id_token": {"acr": {"essential": True, "values": "eidas1"}}}
    response = rp.authorize(claims=json.dumps(claims))
    assert _error_of(rp, response) == "invalid_request"


def test_essential_acr_that_no_login_gives_fails_without_showing_the_login_page(client, rp):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas2"]}}})
    assert _error_of(rp, rp.authorize(claims=claims)) == "access_denied"


def test_essential_acr_that_the_session_cannot_meet_is_a_failed_authentication(
        client, rp, make_account):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    for acr, prompt in (({"essential": True, "values": ["eidas2", "eidas3"]}, None),
                        ({"essential": True, "value": "eidas3"}, None),
                        ({"essential": True, "values": ["eidas2"]}, "none")):
        response = rp.authorize(claims=json.dumps({"id_token": {"acr": acr}}), prompt=prompt)
        assert _error_of(rp, response) == "access_denied"


def test_essential_acr_met_by_the_login_gives_a_code_and_that_acr(client, rp, make_account):
    person = make_account()
    claims = json.dumps({"id_token": {"acr": {"essential": True,
                                              "values": ["eidas2", "eidas1"]}}})
    callback = rp.code_flow(person["identifier"], person["password"], claims=claims)
    id_token = rp.token(callback["code"]).json["id_token"]
    assert _claims_of(id_token)["acr"] == "eidas1"


def test_voluntary_acr_requests_get_the_acr_the_session_has(client, rp, make_account):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    for extra in ({"acr_values": "eidas3 eidas2"},
                  {"claims": json.dumps({"id_token": {"acr": {"values": ["eidas2"]}}})}):
        callback = rp.follow_to_callback(rp.authorize(**extra))
        id_token = rp.token(callback["code"]).json["id_token"]
        assert _claims_of(id_token)["acr"] == "eidas1"


def _claims_of(id_token):
    """The claims of an ID token whose signature the code flow test verifies."""
    body = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.mark.parametrize("max_age", ["-1", "1.5", "1e3", "²", "١٢", " 5", "0x10"])
def test_max_age_that_is_not_a_non_negative_integer_is_refused(client, rp, make_account,
                                                               max_age):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    assert _error_of(rp, rp.authorize(max_age=max_age)) == "invalid_request"


def test_prompt_none_without_session_returns_login_required(client, rp):
    response = rp.authorize(prompt="none")
    params = query_of(response.headers["Location"])
    assert params["error"] == "login_required"
    assert params["state"] == rp.state


def test_unknown_parameters_are_ignored(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"], extra="foobar",
                            display="page", ui_locales="se", claims_locales="se",
                            login_hint="buffy@localhost", acr_values="eidas1")
    assert "code" in callback


def test_post_authorization_request_is_accepted(client, rp, make_account):
    person = make_account()
    response = client.post("/authorize", data=rp.authorize_params())
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    callback = rp.follow_to_callback(rp.login(response, person["identifier"], person["password"]))
    assert rp.token(callback["code"]).status_code == 200


def test_scopes_the_client_may_not_use_are_dropped(client, make_client, make_account):
    from tests.conftest import RelyingParty

    reg = make_client(scopes=["openid", "profile"])
    relying = RelyingParty(client, reg, scope="openid profile email phone")
    person = make_account(email="x@example.org")
    callback = relying.code_flow(person["identifier"], person["password"])
    token = relying.token(callback["code"]).json
    assert set(token["scope"].split()) == {"openid", "profile"}
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert "email" not in info.json


def test_login_page_prefills_login_hint(client, rp):
    response = rp.authorize(login_hint="c.durand")
    page = client.get(response.headers["Location"])
    assert 'value="c.durand"' in page.text
