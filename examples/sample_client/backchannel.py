"""Validation of back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0,
section 2.6), with the provider's published keys.

The keys come from the JWKS the client already holds (fetched through discovery
when it validated ID tokens); a token signed with a key id we do not know makes
us fetch the JWKS again once, which is how a key rotation reaches us.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.errors import MissingKeyError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: How old (iat) a logout token may be, and how far in the future, in seconds.
MAX_AGE = 300
LEEWAY = 60


class LogoutTokenError(Exception):
    """The logout token is not valid; the message says why (for logs, not people)."""


def validate(token: str, *, issuer: str, client_id: str, algorithms: list[str],
             get_jwks: Callable[[bool], dict], now: float | None = None) -> dict:
    """Verify a logout token's signature and claims; return its claims.

    get_jwks(force) returns the provider's JWK set; force=True fetches it again.
    """
    if not token or not isinstance(token, str) or len(token) > 16384:
        raise LogoutTokenError("missing logout_token")
    algorithms = [a for a in algorithms if a and a.lower() != "none"]
    if not algorithms:
        raise LogoutTokenError("no signing algorithm is acceptable")
    registry = JWSRegistry(algorithms=algorithms)
    try:
        decoded = _decode(token, get_jwks(False), registry)
    except _UnknownKey:
        try:
            decoded = _decode(token, get_jwks(True), registry)
        except _UnknownKey as exc:
            raise LogoutTokenError("signed with an unknown key") from exc
    header, claims = decoded.header, decoded.claims
    typ = header.get("typ")
    if typ is not None and typ.lower() not in ("logout+jwt", "application/logout+jwt"):
        raise LogoutTokenError(f"unexpected typ {typ!r}")
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise LogoutTokenError("wrong iss")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else (aud if isinstance(aud, list) else [])
    if client_id not in audiences:
        raise LogoutTokenError("wrong aud")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise LogoutTokenError("missing iat")
    if iat > now + LEEWAY or iat < now - MAX_AGE:
        raise LogoutTokenError("iat out of range")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, (int, float)) or exp < now - LEEWAY):
        raise LogoutTokenError("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenError("missing the back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("a logout token must not contain a nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise LogoutTokenError("neither sid nor sub")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise LogoutTokenError("missing jti")
    return claims


class _UnknownKey(Exception):
    pass


def _decode(token: str, jwks: dict, registry: JWSRegistry):
    try:
        keys = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError) as exc:
        raise LogoutTokenError("the provider's JWKS is unusable") from exc
    try:
        return jwt.decode(token, keys, registry=registry)
    except (InvalidKeyIdError, MissingKeyError) as exc:
        raise _UnknownKey from exc
    except JoseError as exc:
        raise LogoutTokenError(f"signature: {exc.error or type(exc).__name__}") from exc
    except (ValueError, TypeError) as exc:
        raise LogoutTokenError("not a JWT") from exc
