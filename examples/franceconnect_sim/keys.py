"""The simulator's signing keys (in memory, made at start) and its JWS, faults included."""

from __future__ import annotations

import base64
import json
import secrets
import threading

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

ALGS = ("ES256", "RS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_key(alg: str):
    """A fresh private key for `alg`, with a random `kid`."""
    params = {"kid": f"sim-{alg.lower()}-{secrets.token_hex(4)}", "use": "sig", "alg": alg}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params, private=True)
    return RSAKey.generate_key(2048, parameters=params, private=True)


class KeyRing:
    """One ES256 (P-256) key and one RS256 (RSA 2048) key; rotation replaces both."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {alg: _new_key(alg) for alg in ALGS}

    def rotate(self) -> list[str]:
        """New keys with new key ids; the old ones leave the JWKS at once."""
        fresh = {alg: _new_key(alg) for alg in ALGS}
        with self._lock:
            self._keys = fresh
        return self.kids()

    def kids(self) -> list[str]:
        """The current key ids, ES256 first."""
        with self._lock:
            return [self._keys[alg].kid for alg in ALGS]

    def jwks(self) -> dict:
        """The public JWKS."""
        with self._lock:
            keys = list(self._keys.values())
        return KeySet(keys).as_dict(private=False)

    def sign(self, claims: dict, alg: str, fault: str | None = None) -> str:
        """A compact JWS of `claims`.

        `fault` spoils it on purpose: "bad_signature" (signed by another key under the
        published kid), "unknown_kid" (another key, a kid not in the JWKS), "alg_none"
        (unsigned, `alg: none`).
        """
        if alg not in ALGS:
            raise ValueError(f"unsupported alg {alg!r}")
        with self._lock:
            key = self._keys[alg]
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        if fault == "alg_none":
            head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            body = _b64(json.dumps(claims, ensure_ascii=False).encode("utf-8"))
            return f"{head}.{body}."
        if fault == "bad_signature":
            key = _new_key(alg)
        elif fault == "unknown_kid":
            key = _new_key(alg)
            header["kid"] = key.kid
        return jwt.encode(header, claims, key, algorithms=[alg])

    def verify(self, token: str) -> dict | None:
        """The claims of a JWS signed by a current key, else None (expiry not checked)."""
        with self._lock:
            keys = KeySet(list(self._keys.values()))
        try:
            return dict(jwt.decode(token, keys, algorithms=list(ALGS)).claims)
        except (JoseError, ValueError, TypeError):
            return None
