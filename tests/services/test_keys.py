"""Signing keys: encryption at rest, rotation, publication."""

from idp.extensions import db
from idp.models import SigningKey


def test_private_keys_are_encrypted_at_rest(ctx):
    for row in db.session.execute(db.select(SigningKey)).scalars():
        assert '"d"' not in row.private_jwk_encrypted
        assert '"d"' not in row.public_jwk


def test_jwks_publishes_active_and_next_keys_with_distinct_kids(client):
    keys = client.get("/jwks").json["keys"]
    kids = [k["kid"] for k in keys]
    assert len(kids) == len(set(kids)) >= 4
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all("d" not in k for k in keys)


def test_rotation_keeps_tokens_signed_by_the_old_key_verifiable(app, client, rp, make_account):
    from joserfc import jwt
    from joserfc.jwk import KeySet

    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    id_token = rp.token(callback["code"]).json["id_token"]
    with app.app_context():
        app.extensions["idp"].keys.rotate("RS256")
    keys = KeySet.import_key_set(client.get("/jwks").json)
    assert jwt.decode(id_token, keys).claims["sub"]
    callback = rp.follow_to_callback(rp.authorize())
    new_token = rp.token(callback["code"]).json["id_token"]
    assert jwt.decode(new_token, keys).header["kid"] != jwt.decode(id_token, keys).header["kid"]
