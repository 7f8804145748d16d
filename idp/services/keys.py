"""Signing keys: creation, rotation, publication (JWKS) and use.

Each algorithm (RS256, ES256) has at most one *active* key that signs, one *next* key
already published so that caches learn it before it signs, and *retired* keys still
published until the tokens they signed have expired. Private keys are encrypted at rest
with AES-GCM under a key derived from the application secret.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp.extensions import db
from idp.models import SigningKey
from idp.models.base import utcnow
from idp.services import audit
from idp.services.sealing import seal
from idp.services.sealing import unseal

ALGORITHMS = ("RS256", "ES256")
PURPOSE = b"signing-keys"


class SigningKeyUnavailable(Exception):
    """No usable signing key."""


def _encrypt(secret_key: str, data: str, kid: str) -> str:
    return seal(secret_key, PURPOSE, data, kid)


def _decrypt(secret_key: str, blob: str, kid: str) -> str:
    return unseal(secret_key, PURPOSE, blob, kid)


def _generate(alg: str):
    if alg == "RS256":
        return RSAKey.generate_key(2048, auto_kid=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", auto_kid=True)
    raise ValueError(f"unsupported algorithm {alg}")


class KeyService:
    """Read and rotate the signing keys; caches the decrypted keys per process."""

    def __init__(self, secret_key: str, retired_ttl: int):
        self.secret_key = secret_key
        self.retired_ttl = retired_ttl
        self._cache: dict | None = None
        self._cache_at = 0.0
        # Other processes may rotate: re-read the table at most this often.
        self.cache_seconds = 30.0
        self._private: dict = {}

    def _new_key(self, alg: str, state: str) -> SigningKey:
        key = _generate(alg)
        kid = key.kid
        private = json.dumps(key.as_dict(private=True))
        public = key.as_dict(private=False)
        public.update({"use": "sig", "alg": alg, "kid": kid})
        row = SigningKey(
            kid=kid,
            alg=alg,
            state=state,
            private_jwk_encrypted=_encrypt(self.secret_key, private, kid),
            public_jwk=json.dumps(public),
            activated_at=utcnow() if state == "active" else None,
        )
        db.session.add(row)
        return row

    def ensure(self) -> bool:
        """Create an active and a next key for each algorithm where missing.

        Several processes may start at once: a unique index allows one active and one
        next key per algorithm, so a process that loses the race just reads the winner's.
        """
        created = False
        for alg in ALGORITHMS:
            for state in ("active", "next"):
                exists = db.session.execute(
                    db.select(SigningKey.id).where(
                        SigningKey.alg == alg, SigningKey.state == state
                    )
                ).first()
                if exists:
                    continue
                self._new_key(alg, state)
                try:
                    db.session.commit()
                    created = True
                except IntegrityError:
                    db.session.rollback()
        if created:
            self.invalidate()
        return created

    def rotate(self, alg: str | None = None) -> list[dict]:
        """Promote next keys to active, retire the active ones, publish new next keys."""
        now = utcnow()
        rotated = []
        for algorithm in [alg] if alg else ALGORITHMS:
            self.ensure()
            nxt = db.session.execute(
                db.select(SigningKey).where(
                    SigningKey.alg == algorithm, SigningKey.state == "next"
                ).with_for_update()
            ).scalar_one()
            # One statement at a time, in this order, so that the unique index holds
            # after each of them.
            db.session.execute(
                update(SigningKey)
                .where(SigningKey.alg == algorithm, SigningKey.state == "active")
                .values(state="retired", retired_at=now,
                        expires_at=now + timedelta(seconds=self.retired_ttl))
            )
            db.session.execute(
                update(SigningKey).where(SigningKey.id == nxt.id)
                .values(state="active", activated_at=now)
            )
            db.session.flush()
            self._new_key(algorithm, "next")
            rotated.append({"alg": algorithm, "active": nxt.kid})
            audit.record("keys.rotated", alg=algorithm, kid=nxt.kid)
            db.session.commit()
        # Retired keys whose tokens have all expired are no longer published.
        db.session.execute(
            db.delete(SigningKey).where(
                SigningKey.state == "retired", SigningKey.expires_at < now
            )
        )
        db.session.commit()
        self.invalidate()
        return rotated

    def invalidate(self) -> None:
        """Forget the cached keys."""
        self._cache = None

    def _load(self) -> dict:
        now = time.monotonic()
        if self._cache is not None and now - self._cache_at < self.cache_seconds:
            return self._cache
        rows = db.session.execute(db.select(SigningKey)).scalars().all()
        current = utcnow()
        cache = {"active": {}, "public": [], "by_kid": {}}
        for row in rows:
            if row.state == "retired" and row.expires_at and row.expires_at < current:
                continue
            public = json.loads(row.public_jwk)
            cache["public"].append(public)
            cache["by_kid"][row.kid] = public
            if row.state == "active":
                cache["active"][row.alg] = (row.kid, row.private_jwk_encrypted)
        cache["public"].sort(key=lambda k: (k["alg"], k["kid"]))
        self._cache = cache
        self._cache_at = now
        return cache

    def signing_key(self, alg: str):
        """Return (kid, private key) of the active key for alg."""
        cache = self._load()
        if alg not in cache["active"]:
            raise SigningKeyUnavailable(f"no active {alg} signing key: run 'idp keys rotate'")
        kid, blob = cache["active"][alg]
        key = self._private.get(kid)
        if key is None:
            data = json.loads(_decrypt(self.secret_key, blob, kid))
            key = RSAKey.import_key(data) if alg == "RS256" else ECKey.import_key(data)
            self._private[kid] = key
        return kid, key

    def jwks(self) -> dict:
        """Return the published JWK set (active, next and unexpired retired keys)."""
        return {"keys": self._load()["public"]}

    def cached_public_keys(self) -> list[dict] | None:
        """Return the published keys as jwks() would, without the database, or None.

        None when the cached key set is missing or older than cache_seconds, i.e. when
        jwks() would read the table. The list is the same object until the next reload,
        so that derived data (idp.oauth.documents' bytes) can be keyed on its identity.
        """
        cache = self._cache
        if cache is None or time.monotonic() - self._cache_at >= self.cache_seconds:
            return None
        return cache["public"]

    def public_keyset(self) -> KeySet:
        """Return the published keys as a joserfc KeySet, to verify our own tokens."""
        return KeySet.import_key_set(self.jwks())

    def list(self) -> list[dict]:
        """Describe every stored key (for operators)."""
        rows = db.session.execute(
            db.select(SigningKey).order_by(SigningKey.alg, SigningKey.created_at)
        ).scalars()
        return [
            {
                "kid": r.kid,
                "alg": r.alg,
                "state": r.state,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            }
            for r in rows
        ]

    def has_active_keys(self) -> bool:
        """Tell whether every algorithm has an active key."""
        return all(alg in self._load()["active"] for alg in ALGORITHMS)
