"""Password hashing with argon2id, rehash on parameter change, equal timing."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from argon2.exceptions import VerifyMismatchError

#: Provisional passwords are printed for schools to hand out, e.g. "K7PX-M3QD-9WHT":
#: no look-alike characters (0/O, 1/I/L), three groups of four.
PROVISIONAL_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PROVISIONAL_GROUPS = 3
PROVISIONAL_GROUP_LENGTH = 4


def new_provisional_password() -> str:
    """A new random provisional password, e.g. "K7PX-M3QD-9WHT" (about 59 bits)."""
    return "-".join(
        "".join(secrets.choice(PROVISIONAL_ALPHABET) for _ in range(PROVISIONAL_GROUP_LENGTH))
        for _ in range(PROVISIONAL_GROUPS)
    )


def as_printed_provisional(typed: str) -> str:
    """What a person typed for a provisional password, in its printed form.

    Pupils copy the paper notice in lower case, without the dashes or with spaces:
    "k7px m3qd 9wht" is "K7PX-M3QD-9WHT". Anything that cannot be a provisional
    password is returned unchanged.
    """
    compact = "".join(typed.split()).replace("-", "").upper()
    length = PROVISIONAL_GROUPS * PROVISIONAL_GROUP_LENGTH
    if len(compact) != length or not set(compact) <= set(PROVISIONAL_ALPHABET):
        return typed
    return "-".join(
        compact[i:i + PROVISIONAL_GROUP_LENGTH]
        for i in range(0, length, PROVISIONAL_GROUP_LENGTH)
    )


class Passwords:
    """Hash and verify passwords with the configured argon2id parameters."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int):
        self.hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified against when the identifier is unknown, so that both cost the same.
        self._dummy_hash = self.hasher.hash("dummy password for timing equality")

    @classmethod
    def from_config(cls, config) -> Passwords:
        """Build from the Flask config mapping."""
        return cls(
            config["ARGON2_MEMORY_KIB"], config["ARGON2_TIME_COST"], config["ARGON2_PARALLELISM"]
        )

    def hash(self, password: str) -> str:
        """Return the argon2id hash of a password."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Tell whether the password matches; an absent hash costs a dummy verify."""
        try:
            return self.hasher.verify(password_hash or self._dummy_hash, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether the hash was made with other parameters than the current ones."""
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
