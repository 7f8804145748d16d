"""Secrets kept in the database (signing keys, TOTP seeds) are sealed with AES-GCM
under a key derived from the application secret, bound to what they belong to."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SealError(Exception):
    """A sealed value could not be opened (wrong secret key or tampered data)."""


def _kek(secret_key: str, purpose: bytes) -> AESGCM:
    """Derive the key-encryption key of one purpose from the application secret."""
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"idp-" + purpose, info=b"kek-v1"
    ).derive(secret_key.encode("utf-8"))
    return AESGCM(raw)


def seal(secret_key: str, purpose: bytes, data: str, bound_to: str) -> str:
    """Encrypt data; bound_to (e.g. a key id) must be given again to open it."""
    nonce = os.urandom(12)
    sealed = _kek(secret_key, purpose).encrypt(nonce, data.encode("utf-8"),
                                               bound_to.encode("utf-8"))
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(secret_key: str, purpose: bytes, blob: str, bound_to: str) -> str:
    """Decrypt what seal() produced; raise SealError if it was tampered with."""
    try:
        raw = base64.urlsafe_b64decode(blob.encode("ascii"))
        return _kek(secret_key, purpose).decrypt(
            raw[:12], raw[12:], bound_to.encode("utf-8")
        ).decode("utf-8")
    except (InvalidTag, ValueError) as exc:
        raise SealError("sealed value cannot be opened") from exc
