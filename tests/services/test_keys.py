"""Signing keys: encryption at rest, rotation, publication."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.config import ConfigError
from idp.extensions import db
from idp.models import SigningKey
from idp.models.base import utcnow
from idp.services.keys import JWKS_MAX_AGE
from idp.services.keys import NEXT_KEY_MIN_AGE
from idp.services.keys import PURPOSE
from idp.services.keys import KeyService
from idp.services.keys import RotationTooEarly
from idp.services.keys import SigningKeysUnusable
from idp.services.sealing import seal


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


def _age_next_key(alg, seconds):
    """Pretend the next key of alg was published `seconds` ago."""
    db.session.execute(
        update(SigningKey).where(SigningKey.alg == alg, SigningKey.state == "next")
        .values(created_at=utcnow() - timedelta(seconds=seconds))
    )
    db.session.commit()


def _states(keys):
    return {(k["alg"], k["kid"]): k["state"] for k in keys.list()}


def test_a_rotation_waits_until_the_next_key_is_in_every_jwks_cache(app, ctx):
    keys = app.extensions["idp"].keys
    keys.rotate("ES256")  # a next key published just now
    before = _states(keys)
    with pytest.raises(RotationTooEarly) as refused:
        keys.rotate("ES256", min_next_age=NEXT_KEY_MIN_AGE)
    [(alg, kid, wait)] = refused.value.waits
    assert alg == "ES256" and (alg, kid) in before and before[alg, kid] == "next"
    assert NEXT_KEY_MIN_AGE - 60 < wait <= NEXT_KEY_MIN_AGE
    assert _states(keys) == before  # nothing changed
    _age_next_key("ES256", NEXT_KEY_MIN_AGE + 1)
    [rotated] = keys.rotate("ES256", min_next_age=NEXT_KEY_MIN_AGE)
    assert rotated["active"] == kid and not rotated["created"]


def test_a_rotation_of_both_algorithms_changes_nothing_when_one_is_too_early(app, ctx):
    keys = app.extensions["idp"].keys
    keys.rotate("ES256")
    _age_next_key("RS256", NEXT_KEY_MIN_AGE + 1)
    before = _states(keys)
    with pytest.raises(RotationTooEarly) as refused:
        keys.rotate(min_next_age=NEXT_KEY_MIN_AGE)
    assert [w[0] for w in refused.value.waits] == ["ES256"]
    assert "ES256" in str(refused.value) and "--force" in str(refused.value)
    assert _states(keys) == before


def test_jwks_cache_time_is_the_one_the_rotation_waits_for(client):
    assert client.get("/jwks").headers["Cache-Control"] == f"public, max-age={JWKS_MAX_AGE}"
    assert JWKS_MAX_AGE + KeyService("k" * 40, 1).cache_seconds < NEXT_KEY_MIN_AGE


def test_expired_keys_are_listed_as_expired_and_not_published(app, ctx, client):
    keys = app.extensions["idp"].keys
    [rotated] = keys.rotate("RS256")
    retired = [k["kid"] for k in keys.list() if k["state"] == "retired"]
    db.session.execute(update(SigningKey).where(SigningKey.kid.in_(retired))
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    keys.invalidate()
    listed = {k["kid"]: k["state"] for k in keys.list()}
    assert {listed[kid] for kid in retired} == {"expired"}
    assert listed[rotated["active"]] == "active"
    published = {k["kid"] for k in client.get("/jwks").json["keys"]}
    assert not published & set(retired)


def test_check_usable_opens_the_keys_with_this_secret_only(app, ctx):
    keys = app.extensions["idp"].keys
    assert keys.check_usable() is None
    other_secret = "another-node-secret-" + "z" * 30
    other = KeyService(other_secret, app.config["RETIRED_KEY_TTL"])
    with pytest.raises(SigningKeysUnusable) as refused:
        other.check_usable()
    assert str(refused.value) == ("signing keys cannot be opened with this secret_key: "
                                  "every node needs the same secret_key")
    assert isinstance(refused.value, ConfigError)
    assert other_secret not in repr(refused.value) and refused.value.__cause__ is None


def test_check_usable_checks_the_next_key_too(app, ctx):
    row = db.session.execute(
        db.select(SigningKey).where(SigningKey.alg == "ES256", SigningKey.state == "next")
    ).scalar_one()
    sealed = row.private_jwk_encrypted
    # A next key written by a node with another secret_key.
    foreign = KeyService("another-node-secret-" + "z" * 30, 1)
    row.private_jwk_encrypted = seal(foreign.secret_key, PURPOSE, "{}", row.kid)
    db.session.commit()
    try:
        fresh = KeyService(app.config["SECRET_KEY"], app.config["RETIRED_KEY_TTL"])
        with pytest.raises(SigningKeysUnusable, match="cannot be opened"):
            fresh.check_usable()
    finally:
        row.private_jwk_encrypted = sealed
        db.session.commit()
    assert KeyService(app.config["SECRET_KEY"], 1).check_usable() is None
