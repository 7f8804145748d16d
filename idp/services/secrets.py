"""Random values, their hashes and constant-time comparison."""

import hashlib
import hmac
import secrets


def new_token(nbytes: int = 32) -> str:
    """Return a URL-safe random token with nbytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def token_hash(value: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    """Compare two strings in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
