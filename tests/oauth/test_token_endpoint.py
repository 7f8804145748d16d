"""Token endpoint: code redemption, PKCE, client authentication, refresh rotation."""

import base64
import time
import uuid
from datetime import timedelta

import pytest
from joserfc import jws
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.extensions import db
from idp.models import AuthorizationCode
from tests.conftest import RelyingParty


def _userinfo(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_code_is_single_use_and_replay_revokes_what_it_issued(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    first = rp.token(callback["code"])
    assert first.status_code == 200
    replay = rp.token(callback["code"])
    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"
    assert _userinfo(client, first.json["access_token"]).status_code == 401
    assert rp.refresh(first.json["refresh_token"]).json["error"] == "invalid_grant"


def test_expired_code_is_refused(app, client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    with app.app_context():
        for row in db.session.execute(db.select(AuthorizationCode)).scalars():
            row.expires_at = row.expires_at - timedelta(minutes=10)
        db.session.commit()
    response = rp.token(callback["code"])
    assert response.json["error"] == "invalid_grant"


def test_code_is_bound_to_the_redirect_uri(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = rp.token(callback["code"], redirect_uri="https://rp.example.org/other")
    assert response.json["error"] == "invalid_grant"


def test_wrong_pkce_verifier_is_refused(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = rp.token(callback["code"], verifier="x" * 50)
    assert response.json["error"] == "invalid_grant"


@pytest.mark.parametrize("wrong", [{"verifier": "x" * 50},
                                   {"redirect_uri": "https://rp.example.org/other"}])
def test_a_refused_redemption_spends_the_code(client, rp, make_account, wrong):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    assert rp.token(callback["code"], **wrong).json["error"] == "invalid_grant"
    retry = rp.token(callback["code"])
    assert retry.status_code == 400
    assert retry.json["error"] == "invalid_grant"


def test_missing_pkce_verifier_is_refused(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = client.post("/token", headers=rp.auth_headers(), data={
        "grant_type": "authorization_code", "code": callback["code"],
        "redirect_uri": rp.redirect_uri})
    assert response.json["error"] == "invalid_request"


def test_bad_client_secret_is_refused_with_401(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    rp.reg["client_secret"] = "wrong"
    response = rp.token(callback["code"])
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_client_secret_post_works_when_registered(client, make_client, make_account):
    reg = make_client(auth_method="client_secret_post")
    relying = RelyingParty(client, reg)
    person = make_account()
    callback = relying.code_flow(person["identifier"], person["password"])
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": callback["code"],
        "redirect_uri": relying.redirect_uri, "code_verifier": relying.verifier,
        "client_id": reg["client_id"], "client_secret": reg["client_secret"]})
    assert response.status_code == 200, response.json


def test_client_must_use_its_registered_method(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": callback["code"],
        "redirect_uri": rp.redirect_uri, "code_verifier": rp.verifier,
        "client_id": rp.reg["client_id"], "client_secret": rp.reg["client_secret"]})
    assert response.status_code == 401


def test_private_key_jwt_client_authentication(client, make_client, make_account):
    key = ECKey.generate_key("P-256", auto_kid=True)
    reg = make_client(auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]}, id_token_alg="ES256")
    relying = RelyingParty(client, reg)
    person = make_account()
    callback = relying.code_flow(person["identifier"], person["password"])

    def assertion():
        now = int(time.time())
        claims = {"iss": reg["client_id"], "sub": reg["client_id"],
                  "aud": "http://localhost/token", "iat": now, "exp": now + 60,
                  "jti": uuid.uuid4().hex}
        return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)

    data = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": relying.redirect_uri, "code_verifier": relying.verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    signed = assertion()
    response = client.post("/token", data={**data, "client_assertion": signed})
    assert response.status_code == 200, response.json
    header = jws.extract_compact(response.json["id_token"].encode()).protected
    assert header["alg"] == "ES256"
    # The same assertion cannot be replayed.
    replay = client.post("/token", data={**data, "client_assertion": signed})
    assert replay.json["error"] == "invalid_client"


def test_public_client_redeems_with_pkce_and_no_secret(client, make_client, make_account):
    reg = make_client(public=True, scopes=["openid", "profile", "offline_access"])
    relying = RelyingParty(client, reg, scope="openid profile offline_access")
    person = make_account()
    callback = relying.code_flow(person["identifier"], person["password"])
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": callback["code"],
        "redirect_uri": relying.redirect_uri, "code_verifier": relying.verifier,
        "client_id": reg["client_id"]})
    assert response.status_code == 200, response.json
    assert "refresh_token" in response.json


def test_refresh_reuse_revokes_the_whole_chain(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    first = rp.token(callback["code"]).json
    second = rp.refresh(first["refresh_token"]).json
    assert _userinfo(client, second["access_token"]).status_code == 200
    reuse = rp.refresh(first["refresh_token"])
    assert reuse.json["error"] == "invalid_grant"
    assert _userinfo(client, second["access_token"]).status_code == 401
    assert rp.refresh(second["refresh_token"]).json["error"] == "invalid_grant"


def test_refresh_token_is_bound_to_its_client(client, rp, make_client, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    first = rp.token(callback["code"]).json
    other = RelyingParty(client, make_client(name="Autre"))
    assert other.refresh(first["refresh_token"]).json["error"] == "invalid_grant"
    # The owner can still use it: the other client's attempt did not consume it.
    assert rp.refresh(first["refresh_token"]).status_code == 200


def test_refresh_cannot_widen_scope(client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    first = rp.token(callback["code"]).json
    response = rp.refresh(first["refresh_token"], scope="openid profile email phone")
    assert response.json["error"] == "invalid_scope"


def test_unsupported_grant_type(client, rp):
    response = client.post("/token", data={"grant_type": "password"}, headers=rp.auth_headers())
    assert response.json["error"] == "unsupported_grant_type"


def test_token_endpoint_answers_json_errors_to_garbage(client, rp):
    response = client.post("/token", data={"grant_type": "authorization_code",
                                           "code": "\x00" * 300}, headers=rp.auth_headers())
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_grant", "invalid_request")


def test_code_presented_by_another_client_is_refused_and_stays_usable(client, rp, make_client,
                                                                    make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    other = RelyingParty(client, make_client(name="Autre"))
    other.redirect_uri = rp.redirect_uri
    stolen = other.token(callback["code"], verifier=rp.verifier)
    assert stolen.status_code == 400
    assert stolen.json["error"] == "invalid_grant"
    # The code was not consumed by the other client's attempt.
    assert rp.token(callback["code"]).status_code == 200


@pytest.mark.parametrize("client_id", ["abc\x00def", "\x00"])
def test_nul_in_a_basic_auth_client_id_is_an_unknown_client(client, client_id):
    raw = base64.b64encode(f"{client_id}:secret".encode()).decode()
    for path in ("/token", "/revoke", "/introspect"):
        response = client.post(path, data={"grant_type": "authorization_code", "code": "x",
                                           "token": "x"},
                               headers={"Authorization": f"Basic {raw}"})
        assert response.status_code == 401, (path, response.data[:200])
        assert response.json["error"] == "invalid_client"


def test_refresh_with_a_narrower_scope_narrows_only_that_access_token(client, make_client,
                                                                      make_account):
    granted = "openid profile email offline_access"
    relying = RelyingParty(client, make_client(scopes=granted.split()), scope=granted)
    person = make_account(email="camille@example.org")
    callback = relying.code_flow(person["identifier"], person["password"])
    first = relying.token(callback["code"]).json
    narrow = relying.refresh(first["refresh_token"], scope="openid")
    assert narrow.status_code == 200, narrow.json
    assert narrow.json["scope"] == "openid"
    # UserInfo answers with the access token's scope: no profile or email claims.
    info = _userinfo(client, narrow.json["access_token"]).json
    assert "given_name" not in info and "email" not in info
    # The new refresh token still carries what was granted (RFC 6749 section 6):
    # omitted, the scope is the original one; asked for again, it is allowed.
    again = relying.refresh(narrow.json["refresh_token"])
    assert again.status_code == 200, again.json
    assert set(again.json["scope"].split()) == set(granted.split())
    assert _userinfo(client, again.json["access_token"]).json["email"] == "camille@example.org"
    explicit = relying.refresh(again.json["refresh_token"], scope=granted)
    assert explicit.status_code == 200, explicit.json
    wider = relying.refresh(explicit.json["refresh_token"], scope=granted + " phone")
    assert wider.json["error"] == "invalid_scope"


def test_malformed_basic_credentials_get_401_with_www_authenticate(client):
    # Decodes to bytes that are not UTF-8.
    for path in ("/token", "/revoke", "/introspect"):
        response = client.post(path, data={"grant_type": "authorization_code", "code": "x",
                                           "token": "x"},
                               headers={"Authorization": "Basic //46/w=="})
        assert response.status_code == 401, (path, response.json)
        assert response.json["error"] == "invalid_client"
        assert response.headers["WWW-Authenticate"].startswith("Basic "), path


def test_basic_authentication_with_another_client_id_in_the_body_is_refused(
        client, rp, make_client, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    other = make_client(name="Autre")
    response = rp.token(callback["code"], client_id=other["client_id"])
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    # The refused request did not spend the code.
    assert rp.token(callback["code"]).status_code == 200


def test_a_client_may_repeat_its_own_client_id_beside_basic_authentication(client, rp,
                                                                          make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = rp.token(callback["code"], client_id=rp.reg["client_id"])
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("second_method", [
    {"client_secret": "anything"},
    {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
     "client_assertion": "a.b.c"},
])
def test_more_than_one_client_authentication_method_is_refused(client, rp, make_account,
                                                               second_method):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    response = rp.token(callback["code"], **second_method)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    first = rp.token(callback["code"]).json
    for path in ("/revoke", "/introspect"):
        refused = client.post(path, data={"token": first["access_token"], **second_method},
                              headers=rp.auth_headers())
        assert refused.status_code == 400, path
        assert refused.json["error"] == "invalid_request"


@pytest.mark.parametrize("endpoint", ["/token", "/revoke", "/introspect"])
def test_an_assertion_for_a_client_without_keys_is_invalid_client(client, rp, endpoint):
    key = ECKey.generate_key("P-256", auto_kid=True)
    now = int(time.time())
    claims = {"iss": rp.reg["client_id"], "sub": rp.reg["client_id"],
              "aud": "http://localhost" + endpoint, "iat": now, "exp": now + 60,
              "jti": uuid.uuid4().hex}
    response = client.post(endpoint, data={
        "grant_type": "refresh_token", "refresh_token": "x", "token": "x",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_an_assertion_signed_with_an_unadvertised_algorithm_is_refused(client, make_client):
    key = ECKey.generate_key("P-384", auto_kid=True)
    reg = make_client(auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]})
    now = int(time.time())
    claims = {"iss": reg["client_id"], "sub": reg["client_id"], "aud": "http://localhost",
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    response = client.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": "x",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode({"alg": "ES384", "kid": key.kid}, claims, key,
                                       algorithms=["ES384"])})
    assert (response.status_code, response.json["error"]) == (401, "invalid_client")


def test_a_token_request_without_grant_type_is_invalid_request(client, rp):
    response = client.post("/token", data={"code": "x"}, headers=rp.auth_headers())
    assert (response.status_code, response.json["error"]) == (400, "invalid_request")


def test_private_key_jwt_with_a_secret_in_the_body_too_is_refused(client, make_client,
                                                                  make_account):
    key = ECKey.generate_key("P-256", auto_kid=True)
    reg = make_client(auth_method="private_key_jwt",
                      jwks={"keys": [key.as_dict(private=False)]})
    relying = RelyingParty(client, reg)
    person = make_account()
    callback = relying.code_flow(person["identifier"], person["password"])
    now = int(time.time())
    claims = {"iss": reg["client_id"], "sub": reg["client_id"], "aud": "http://localhost/token",
              "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    data = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": relying.redirect_uri, "code_verifier": relying.verifier,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key),
            "client_id": reg["client_id"]}
    response = client.post("/token", data={**data, "client_secret": "x"})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    # With the client_id beside the assertion alone, it is accepted (RFC 7521 4.2).
    assert client.post("/token", data=data).status_code == 200


@pytest.mark.parametrize("repeated", ["code", "grant_type", "redirect_uri", "client_id"])
def test_repeated_parameters_in_a_token_request_are_refused(client, rp, make_account,
                                                            repeated):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    data = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": rp.redirect_uri, "code_verifier": rp.verifier,
            "client_id": rp.reg["client_id"]}
    data[repeated] = [data[repeated], data[repeated] if repeated != "code" else "x"]
    response = client.post("/token", data=data, headers=rp.auth_headers())
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_an_extension_parameter_may_be_repeated(client, rp, make_account):
    # RFC 8707: a client may name several resources; only the parameters the token
    # endpoint reads must appear once.
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    data = {"grant_type": "authorization_code", "code": callback["code"],
            "redirect_uri": rp.redirect_uri, "code_verifier": rp.verifier,
            "resource": ["https://api.example/a", "https://api.example/b"]}
    response = client.post("/token", data=data, headers=rp.auth_headers())
    assert response.status_code == 200, response.json
