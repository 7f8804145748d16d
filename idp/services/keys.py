"""Signing keys: creation, rotation, publication (JWKS) and use.

Each algorithm (RS256, ES256) has at most one *active* key that signs, one *next* key
already published so that caches learn it before it signs, and *retired* keys still
published until the tokens they signed have expired. Private keys are encrypted at rest
with AES-GCM under a key derived from the application secret.
"""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta

from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp.config import ConfigError
from idp.extensions import db
from idp.models import SigningKey
from idp.models.base import utcnow
from idp.services import audit
from idp.services.sealing import SealError
from idp.services.sealing import seal
from idp.services.sealing import unseal

ALGORITHMS = ("RS256", "ES256")
PURPOSE = b"signing-keys"
#: How long relying services may cache the JWKS (its Cache-Control max-age, set by
#: idp.oauth.documents.JWKS_CACHE).
JWKS_MAX_AGE = 300
#: How long a next key must have been published before a rotation makes it sign: the
#: JWKS max-age, plus a margin for the workers' own key cache (30 s), proxies and
#: clocks. A service that fetched the JWKS just before the next key appeared still has
#: it in its cache when the key signs.
NEXT_KEY_MIN_AGE = 2 * JWKS_MAX_AGE

NO_ACTIVE_KEYS = "signing keys: none active in the database; run 'idp keys rotate'"
CANNOT_OPEN = ("signing keys cannot be opened with this secret_key: every node needs "
               "the same secret_key")


class SigningKeyUnavailable(Exception):
    """No usable signing key."""


class SigningKeysUnusable(ConfigError):
    """This process cannot sign: no active keys, or keys its secret_key cannot open."""


class RotationTooEarly(Exception):
    """A next key has not been published long enough for the JWKS caches to know it."""

    def __init__(self, waits: list[tuple[str, str, int]], min_age: int):
        # waits: (alg, kid of the next key, seconds still to wait)
        self.waits = waits
        self.min_age = min_age
        self.wait = max(w for _, _, w in waits)
        algs = ", ".join(alg for alg, _, _ in waits)
        super().__init__(
            f"the next {algs} key{'s were' if len(waits) > 1 else ' was'} published less "
            f"than {_duration(min_age)} ago, and relying services may cache the JWKS for "
            f"{_duration(JWKS_MAX_AGE)}: a rotation now would sign with a key they have "
            f"not seen; wait {_duration(self.wait)}, or force it with --force"
        )


def _waits(rows, min_age: float) -> list[tuple[str, str, int]]:
    now = utcnow()
    waits = []
    for row in sorted(rows, key=lambda r: r.alg):
        age = (now - row.created_at).total_seconds()
        if age < min_age:
            waits.append((row.alg, row.kid, math.ceil(min_age - age)))
    return waits


def _duration(seconds: float) -> str:
    """Seconds as operators read them: 45 s, 9 min 5 s, 10 min."""
    seconds = max(0, math.ceil(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


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
        return bool(self._ensure(ALGORITHMS))

    def _ensure(self, algorithms) -> dict[str, set[str]]:
        """ensure() for some algorithms; return the states created, by algorithm."""
        created: dict[str, set[str]] = {}
        for alg in algorithms:
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
                    created.setdefault(alg, set()).add(state)
                except IntegrityError:
                    db.session.rollback()
        if created:
            self.invalidate()
        return created

    def rotate(self, alg: str | None = None, *, min_next_age: float = 0) -> list[dict]:
        """Promote next keys to active, retire the active ones, publish new next keys.

        An algorithm without keys only gets its first active and next keys (`created`
        in its entry): promoting a next key created a moment ago would sign with a key
        no cache has seen. With min_next_age, RotationTooEarly is raised, before any
        change, when a next key has been published for less than that many seconds
        (checked on the locked rows, so two operators rotating at once cannot promote
        a key the first one just published).
        """
        algorithms = [alg] if alg else list(ALGORITHMS)
        created = self._ensure(algorithms)
        rotated = [self._describe_initial(a) for a in algorithms
                   if created.get(a) == {"active", "next"}]
        due = [a for a in algorithms if created.get(a) != {"active", "next"}]
        now = utcnow()
        if due:
            nexts = self._lock_next_keys(due)
            if min_next_age > 0:
                waits = _waits(nexts.values(), min_next_age)
                if waits:
                    db.session.rollback()
                    raise RotationTooEarly(waits, int(min_next_age))
        for algorithm in due:
            nxt = nexts[algorithm]
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
            new_next = self._new_key(algorithm, "next")
            rotated.append({"alg": algorithm, "active": nxt.kid, "next": new_next.kid,
                            "created": False})
            audit.record("keys.rotated", alg=algorithm, kid=nxt.kid)
        db.session.commit()
        rotated.sort(key=lambda r: algorithms.index(r["alg"]))
        # Retired keys whose tokens have all expired are no longer published.
        db.session.execute(
            db.delete(SigningKey).where(
                SigningKey.state == "retired", SigningKey.expires_at < now
            )
        )
        db.session.commit()
        self.invalidate()
        return rotated

    def _lock_next_keys(self, algorithms: list[str]) -> dict[str, SigningKey]:
        """The next keys of these algorithms, locked until the transaction ends."""
        for _ in range(2):
            rows = db.session.execute(
                db.select(SigningKey).where(
                    SigningKey.alg.in_(algorithms), SigningKey.state == "next"
                ).with_for_update().execution_options(populate_existing=True)
            ).scalars().all()
            found = {row.alg: row for row in rows}
            if set(found) == set(algorithms):
                return found
            # Another process rotated while this one waited for the lock: its new next
            # key was not visible to this statement. Read again.
            db.session.rollback()
        raise SigningKeyUnavailable("no next key to promote: run 'idp keys rotate' again")

    def _describe_initial(self, alg: str) -> dict:
        kids = dict(db.session.execute(
            db.select(SigningKey.state, SigningKey.kid).where(
                SigningKey.alg == alg, SigningKey.state.in_(("active", "next")))
        ).all())
        return {"alg": alg, "active": kids["active"], "next": kids["next"], "created": True}

    def invalidate(self) -> None:
        """Forget the cached keys."""
        self._cache = None

    def _load(self) -> dict:
        now = time.monotonic()
        if self._cache is not None and now - self._cache_at < self.cache_seconds:
            return self._cache
        rows = db.session.execute(db.select(SigningKey)).scalars().all()
        current = utcnow()
        cache = {"active": {}, "next": {}, "public": [], "by_kid": {}}
        for row in rows:
            if row.state == "retired" and row.expires_at and row.expires_at < current:
                continue
            public = json.loads(row.public_jwk)
            cache["public"].append(public)
            cache["by_kid"][row.kid] = public
            if row.state in ("active", "next"):
                cache[row.state][row.alg] = (row.kid, row.private_jwk_encrypted)
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
        return kid, self._open(alg, kid, blob)

    def _open(self, alg: str, kid: str, blob: str):
        """The private key of a stored row (decrypted once per process)."""
        key = self._private.get(kid)
        if key is None:
            data = json.loads(_decrypt(self.secret_key, blob, kid))
            key = RSAKey.import_key(data) if alg == "RS256" else ECKey.import_key(data)
            self._private[kid] = key
        return key

    def check_usable(self) -> None:
        """Raise SigningKeysUnusable unless this process can sign, now and after the
        next rotation: every algorithm has an active key, and the active and next keys
        open with this process's secret_key.

        Each key is opened once per process (then kept, as signing does), so calling
        this again (a readiness probe) costs at most the cached read of the key table.
        The message never contains the secret.
        """
        cache = self._load()
        if not all(alg in cache["active"] for alg in ALGORITHMS):
            raise SigningKeysUnusable(NO_ACTIVE_KEYS)
        for state in ("active", "next"):
            for alg, (kid, blob) in sorted(cache[state].items()):
                try:
                    self._open(alg, kid, blob)
                except SealError:
                    raise SigningKeysUnusable(CANNOT_OPEN) from None
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise SigningKeysUnusable(
                        f"signing keys: the {state} {alg} key {kid} is unreadable "
                        f"({type(exc).__name__})"
                    ) from None

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
        now = utcnow()
        return [
            {
                "kid": r.kid,
                "alg": r.alg,
                # A retired key past its expiry is no longer published (the next
                # rotation deletes it): it is not "retired" any more.
                "state": "expired" if r.state == "retired" and r.expires_at
                and r.expires_at < now else r.state,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            }
            for r in rows
        ]
