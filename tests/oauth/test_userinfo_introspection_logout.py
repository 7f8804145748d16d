"""UserInfo, introspection, RP-initiated logout and back-channel logout."""

import base64
import json
import time
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models import Token
from idp.services import clients as client_service
from tests.conftest import RelyingParty
from tests.conftest import csrf_from
from tests.conftest import query_of


def _tokens(rp, person):
    callback = rp.code_flow(person["identifier"], person["password"])
    return rp.token(callback["code"]).json


def test_userinfo_accepts_header_get_header_post_and_body_post(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    assert client.post("/userinfo", headers=bearer).status_code == 200
    body = client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert body.status_code == 200


def test_userinfo_refuses_tokens_in_the_url_and_bad_tokens(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    assert client.get(f"/userinfo?access_token={tokens['access_token']}").status_code == 400
    bad = client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert client.get("/userinfo").status_code == 401


def test_claims_parameter_selects_claims_within_granted_scopes(client, make_client, make_account):
    reg = make_client(scopes=["openid", "profile"])
    relying = RelyingParty(client, reg, scope="openid")
    person = make_account(email="hidden@example.org")
    claims = json.dumps({"id_token": {"given_name": {"essential": True}},
                         "userinfo": {"email": None, "family_name": None}})
    callback = relying.code_flow(person["identifier"], person["password"], claims=claims)
    tokens = relying.token(callback["code"]).json
    payload = tokens["id_token"].split(".")[1]
    id_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # openid only was granted: profile claims are not released, even when asked for.
    assert "given_name" not in id_claims
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert "email" not in info.json and "family_name" not in info.json


def test_introspection_for_a_confidential_client(client, rp, make_client, make_account):
    tokens = _tokens(rp, make_account())
    resource_server = RelyingParty(client, make_client(name="API bourses", introspect_any=True))
    response = client.post("/introspect", data={"token": tokens["access_token"]},
                           headers=resource_server.auth_headers())
    assert response.status_code == 200
    assert response.json["active"] is True
    assert response.json["client_id"] == rp.reg["client_id"]
    client.post("/revoke", data={"token": tokens["access_token"]}, headers=rp.auth_headers())
    again = client.post("/introspect", data={"token": tokens["access_token"]},
                        headers=resource_server.auth_headers())
    assert again.json == {"active": False}


def _introspect(client, resource_server, token, **extra):
    return client.post("/introspect", data={"token": token, **extra},
                       headers=resource_server.auth_headers())


def test_introspection_describes_the_token_presented(app, client, rp, make_client,
                                                     make_account):
    tokens = _tokens(rp, make_account())
    resource_server = RelyingParty(client, make_client(name="API bourses", introspect_any=True))
    now = time.time()
    access = _introspect(client, resource_server, tokens["access_token"]).json
    assert access["active"] is True
    assert access["token_type"] == "Bearer"
    assert abs(access["exp"] - (now + app.config["ACCESS_TOKEN_TTL"])) < 5
    refresh = _introspect(client, resource_server, tokens["refresh_token"]).json
    assert refresh["active"] is True
    # Never "Bearer": a resource server must not take a refresh token for an access token.
    assert refresh["token_type"] == "refresh_token"  # noqa: S105 - a type name
    assert abs(refresh["exp"] - (now + app.config["REFRESH_TOKEN_TTL"])) < 5


def test_introspection_of_a_refresh_token_outliving_its_access_token(app, client, rp,
                                                                    make_client,
                                                                    make_account):
    tokens = _tokens(rp, make_account())
    resource_server = RelyingParty(client, make_client(name="API bourses", introspect_any=True))
    with app.app_context():
        for row in db.session.execute(db.select(Token)).scalars():
            row.access_expires_at = row.access_expires_at - timedelta(hours=2)
        db.session.commit()
    assert _introspect(client, resource_server, tokens["access_token"]).json == {
        "active": False}
    assert _introspect(client, resource_server, tokens["refresh_token"]).json["active"] is True
    rotated = rp.refresh(tokens["refresh_token"])
    assert rotated.status_code == 200
    # The used refresh token is inactive; its successor is live.
    assert _introspect(client, resource_server, tokens["refresh_token"]).json == {
        "active": False}
    assert _introspect(client, resource_server,
                       rotated.json["refresh_token"]).json["active"] is True
    client.post("/revoke", data={"token": rotated.json["refresh_token"]},
                headers=rp.auth_headers())
    assert _introspect(client, resource_server, rotated.json["refresh_token"]).json == {
        "active": False}


def test_introspection_scope_follows_the_token_after_a_narrowed_refresh(client, rp,
                                                                       make_client,
                                                                       make_account):
    tokens = _tokens(rp, make_account())
    resource_server = RelyingParty(client, make_client(name="API bourses", introspect_any=True))
    narrow = rp.refresh(tokens["refresh_token"], scope="openid").json
    access = _introspect(client, resource_server, narrow["access_token"]).json
    assert access["scope"] == "openid"
    refresh = _introspect(client, resource_server, narrow["refresh_token"]).json
    assert set(refresh["scope"].split()) == set(rp.scope.split())


def test_an_unknown_or_wrong_token_type_hint_is_only_a_hint(client, rp, make_client,
                                                            make_account):
    tokens = _tokens(rp, make_account())
    resource_server = RelyingParty(client, make_client(name="API bourses", introspect_any=True))
    for hint in ("bogus", "refresh_token"):
        found = _introspect(client, resource_server, tokens["access_token"],
                            token_type_hint=hint)
        assert found.status_code == 200
        assert found.json["active"] is True
        assert found.json["token_type"] == "Bearer"  # noqa: S105 - a type name
    found = _introspect(client, resource_server, tokens["refresh_token"],
                        token_type_hint="access_token")
    assert found.json["token_type"] == "refresh_token"  # noqa: S105 - a type name
    revoked = client.post("/revoke", data={"token": tokens["access_token"],
                                           "token_type_hint": "bogus"},
                          headers=rp.auth_headers())
    assert revoked.status_code == 200
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_a_repeated_token_is_refused_and_nothing_is_revoked(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    response = client.post("/revoke", data={"token": ["bogus", tokens["access_token"]]},
                           headers=rp.auth_headers())
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200


def _claims(jwt_value):
    payload = jwt_value.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_client_introspects_its_own_access_and_refresh_tokens(client, rp, make_account):
    person = make_account()
    tokens = _tokens(rp, person)
    sub = _claims(tokens["id_token"])["sub"]
    for value, token_type in ((tokens["access_token"], "Bearer"),
                              (tokens["refresh_token"], "refresh_token")):
        answer = _introspect(client, rp, value)
        assert answer.status_code == 200
        assert answer.json["active"] is True
        assert answer.json["client_id"] == rp.reg["client_id"]
        assert answer.json["token_type"] == token_type
        assert answer.json["sub"] == sub
        assert answer.json["username"] == person["identifier"]


def test_another_client_learns_nothing_about_a_token_not_issued_to_it(client, rp,
                                                                      make_client,
                                                                      make_account):
    tokens = _tokens(rp, make_account())
    # An ordinary service, on another host: its pairwise subjects differ from rp's.
    other = RelyingParty(client, make_client(name="Autre service",
                                             redirect_uris=["https://autre.example.org/cb"]))
    unknown = _introspect(client, other, "no-such-token")
    assert unknown.status_code == 200 and unknown.json == {"active": False}
    for value in (tokens["access_token"], tokens["refresh_token"]):
        for hint in ({}, {"token_type_hint": "access_token"},
                     {"token_type_hint": "refresh_token"}):
            answer = _introspect(client, other, value, **hint)
            # Exactly what an unknown token gets: not even the token's existence.
            assert answer.status_code == unknown.status_code
            assert answer.json == unknown.json
            assert answer.data == unknown.data
    # Asking did not harm the token: its owner still sees it active.
    assert _introspect(client, rp, tokens["access_token"]).json["active"] is True
    assert _introspect(client, rp, tokens["refresh_token"]).json["active"] is True


def test_a_resource_server_introspects_the_tokens_of_every_client(client, rp, make_client,
                                                                  make_account):
    person = make_account()
    tokens = _tokens(rp, person)
    sub = _claims(tokens["id_token"])["sub"]
    resource_server = RelyingParty(client, make_client(
        name="API bourses", redirect_uris=["https://api.example.org/cb"],
        introspect_any=True))
    assert resource_server.reg["introspect_any"] is True
    access = _introspect(client, resource_server, tokens["access_token"]).json
    assert access["active"] is True
    assert access["client_id"] == rp.reg["client_id"]
    # The subject the token's client knows, not the resource server's.
    assert access["sub"] == sub
    assert access["username"] == person["identifier"]
    refresh = _introspect(client, resource_server, tokens["refresh_token"]).json
    assert refresh["active"] is True and refresh["client_id"] == rp.reg["client_id"]


def test_revoked_and_expired_tokens_are_inactive_for_every_client(app, client, rp,
                                                                 make_client,
                                                                 make_account):
    other = RelyingParty(client, make_client(name="Autre service"))
    resource_server = RelyingParty(client, make_client(name="API bourses",
                                                       introspect_any=True))
    callers = (rp, other, resource_server)
    revoked = _tokens(rp, make_account())
    client.post("/revoke", data={"token": revoked["refresh_token"]},
                headers=rp.auth_headers())
    expired = _tokens(rp, make_account())
    with app.app_context():
        row = db.session.execute(
            db.select(Token).where(Token.client_id == rp.reg["client_id"])
            .order_by(Token.id.desc())).scalars().first()
        row.access_expires_at = row.access_expires_at - timedelta(hours=2)
        row.refresh_expires_at = row.refresh_expires_at - timedelta(days=400)
        db.session.commit()
    for caller in callers:
        for value in (revoked["access_token"], revoked["refresh_token"],
                      expired["access_token"], expired["refresh_token"]):
            answer = _introspect(client, caller, value)
            assert answer.status_code == 200
            assert answer.json == {"active": False}, caller.reg["name"]


def test_introspect_any_can_be_given_and_taken_back(app, client, rp, make_client,
                                                    make_account):
    tokens = _tokens(rp, make_account())
    reg = make_client(name="API bourses")
    resource_server = RelyingParty(client, reg)
    assert reg["introspect_any"] is False
    assert _introspect(client, resource_server, tokens["access_token"]).json == {
        "active": False}
    with app.app_context():
        client_service.set_introspect_any(client_service.get(reg["client_id"]), True)
    # A change made in this process is seen at once (no 30-second cache wait).
    assert _introspect(client, resource_server, tokens["access_token"]).json["active"] is True
    with app.app_context():
        client_service.set_introspect_any(client_service.get(reg["client_id"]), False)
    assert _introspect(client, resource_server, tokens["access_token"]).json == {
        "active": False}


def test_a_public_client_cannot_introspect_even_its_own_tokens(client, make_client,
                                                               make_account):
    reg = make_client(name="Appli", public=True, scopes=["openid", "offline_access"])
    app_rp = RelyingParty(client, reg, scope="openid offline_access")
    person = make_account()
    callback = app_rp.code_flow(person["identifier"], person["password"])
    tokens = app_rp.token(callback["code"], client_id=reg["client_id"]).json
    answer = client.post("/introspect", data={"token": tokens["access_token"],
                                              "client_id": reg["client_id"]})
    assert answer.status_code == 401
    assert answer.json["error"] == "invalid_client"
    assert "active" not in answer.json


def test_a_public_client_cannot_be_a_resource_server(app, make_client):
    with pytest.raises(client_service.ClientError, match="introspect_any"):
        make_client(name="Appli", public=True, introspect_any=True)
    reg = make_client(name="Appli", public=True)
    with app.app_context(), pytest.raises(client_service.ClientError):
        client_service.set_introspect_any(client_service.get(reg["client_id"]), True)


def test_introspection_needs_client_authentication(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    response = client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code in (400, 401)


def test_rp_initiated_logout_notifies_every_client_by_back_channel(client, make_client,
                                                                   make_account, backchannel):
    reg_a = make_client(name="A", backchannel_logout_uri=backchannel.url)
    reg_b = make_client(name="B", redirect_uris=["https://b.example.org/cb"],
                        backchannel_logout_uri=backchannel.url)
    person = make_account()
    rp_a, rp_b = RelyingParty(client, reg_a), RelyingParty(client, reg_b)
    tokens = _tokens(rp_a, person)
    rp_b.token(rp_b.follow_to_callback(rp_b.authorize())["code"])

    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://rp.example.org/logged-out", "state": "s1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example.org/logged-out?state=s1"
    assert len(backchannel.received) == 2
    keys = KeySet.import_key_set(client.get("/jwks").json)
    id_claims = jwt.decode(tokens["id_token"], keys).claims
    audiences = set()
    for raw in backchannel.received:
        decoded = jwt.decode(raw, keys)
        assert decoded.header["typ"] == "logout+jwt"
        claims = decoded.claims
        assert claims["iss"] == "http://localhost"
        assert claims["sid"] == id_claims["sid"]
        assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
        assert "nonce" not in claims and claims["jti"]
        audiences.add(claims["aud"])
    assert audiences == {reg_a["client_id"], reg_b["client_id"]}
    # The session is over: a silent request now needs a login.
    silent = rp_a.authorize(prompt="none")
    assert query_of(silent.headers["Location"])["error"] == "login_required"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_logout_ends_an_offline_grants_access_token_and_keeps_its_refresh_token(
        client, make_client, make_account):
    reg = make_client(scopes=["openid", "profile", "offline_access"])
    relying = RelyingParty(client, reg, scope="openid profile offline_access")
    tokens = _tokens(relying, make_account())
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 302
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    refreshed = relying.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200
    bearer = {"Authorization": f"Bearer {refreshed.json['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200


def test_logout_without_hint_asks_for_confirmation(client, rp, make_account):
    _tokens(rp, make_account())
    page = client.get("/logout", query_string={"client_id": rp.reg["client_id"]})
    assert page.status_code == 200
    assert "Voulez-vous vous déconnecter" in page.text
    flow = page.text.split('name="logout" value="')[1].split('"')[0]
    done = client.post("/logout/confirm", data={"csrf_token": csrf_from(page.text),
                                                 "logout": flow})
    assert done.status_code == 302
    assert query_of(rp.authorize(prompt="none").headers["Location"])["error"] == "login_required"


def test_logout_refuses_unregistered_post_logout_redirect_uri(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    response = client.get("/logout", query_string={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://evil.example.com/"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_refuses_a_forged_id_token_hint(client, rp, make_account):
    tokens = _tokens(rp, make_account())
    header, payload, _ = tokens["id_token"].split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    for forged in (f"{none_header}.{payload}.", f"{header}.{payload}.AAAA"):
        response = client.get("/logout", query_string={"id_token_hint": forged})
        assert response.status_code == 400


def test_logout_accepts_an_expired_id_token_hint(app, client, rp, make_account):
    app.config["ID_TOKEN_TTL"] = -60
    try:
        tokens = _tokens(rp, make_account())
    finally:
        app.config["ID_TOKEN_TTL"] = 600
    response = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert response.status_code == 302
    assert query_of(rp.authorize(prompt="none").headers["Location"])["error"] == "login_required"
