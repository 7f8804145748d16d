"""Authorization endpoint: what is refused, and where the refusal goes."""

from urllib.parse import urlencode

from tests.conftest import query_of


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
