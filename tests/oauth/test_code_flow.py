"""The whole authorization code flow through the HTTP interface."""

from joserfc import jwt
from joserfc.jwk import KeySet

from idp.oauth.subject import pairwise


def verify_id_token(client, token, audience):
    """Verify an ID token against the published JWKS and return its claims."""
    keys = KeySet.import_key_set(client.get("/jwks").json)
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    claims = decoded.claims
    assert claims["iss"] == "http://localhost"
    assert claims["aud"] == audience
    return decoded.header, claims


def test_discovery_then_code_flow_then_userinfo_refresh_and_revoke(client, rp, make_account):
    person = make_account("c.martin", given_name="Claire", family_name="MARTIN",
                          email="claire@example.org")
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["issuer"] == "http://localhost"
    assert meta["code_challenge_methods_supported"] == ["S256"]

    callback = rp.code_flow(person["identifier"], person["password"])
    assert callback["state"] == rp.state
    assert callback["iss"] == "http://localhost"

    response = rp.token(callback["code"])
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    header, claims = verify_id_token(client, body["id_token"], rp.reg["client_id"])
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["nonce"] == rp.nonce
    assert claims["sub"] == pairwise("rp.example.org", person["public_id"], "test-salt")
    for name in ("exp", "iat", "auth_time", "acr", "amr", "sid", "at_hash"):
        assert name in claims
    assert claims["amr"] == ["pwd"]

    info = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json["sub"] == claims["sub"]
    assert info.json["given_name"] == "Claire"
    assert info.json["email"] == "claire@example.org"

    refreshed = rp.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.json["refresh_token"] != body["refresh_token"]
    _, again = verify_id_token(client, refreshed.json["id_token"], rp.reg["client_id"])
    assert again["sub"] == claims["sub"] and again["auth_time"] == claims["auth_time"]

    old = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert old.status_code == 401

    revoked = client.post("/revoke", data={"token": refreshed.json["refresh_token"]},
                          headers=rp.auth_headers())
    assert revoked.status_code == 200
    dead = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {refreshed.json['access_token']}"}
    )
    assert dead.status_code == 401


def test_discovery_lists_what_jwt_client_auth_needs_and_every_profile_key(client):
    meta = client.get("/.well-known/openid-configuration").json
    # RFC 8414 2: wherever private_key_jwt is listed, its signing algorithms are too.
    for endpoint in ("token", "revocation", "introspection"):
        assert "private_key_jwt" in meta[f"{endpoint}_endpoint_auth_methods_supported"]
        assert meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] == [
            "RS256", "ES256"]
    # The keys of the EduConnect profile are claims the provider may release.
    assert {"FrEduCtId", "FrEduCtEleveINE", "FrEduCtPersonAffiliation"} <= set(
        meta["claims_supported"])
    # OAuth clients (RFC 8414) find the same document at their well-known address.
    assert client.get("/.well-known/oauth-authorization-server").json == meta


def test_discovery_advertises_only_the_prompts_and_levels_it_honours(client):
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["prompt_values_supported"] == ["none", "login", "select_account"]
    assert meta["acr_values_supported"] == ["eidas1"]
    assert meta["claims_parameter_supported"] is True
