"""Accounts: creation, password login with progressive locking, password changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from idp.extensions import db
from idp.models import Account
from idp.models.accounts import ACCOUNT_ROLES
from idp.models.base import utcnow
from idp.services import audit
from idp.services.passwords import as_printed_provisional

_accounts = Account.__table__
_FIND = select(Account).where(Account.identifier == bindparam("identifier"))
_LOGIN_SUCCEEDED = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(failed_logins=0, locked_until=None, last_login_at=bindparam("now"),
            updated_at=_accounts.c.updated_at)
)
# Login bookkeeping keeps `updated_at`: it is the `updated_at` claim, the time the
# person's information last changed (OIDC Core 5.1), not their last login attempt.
_UNCHANGED = {"updated_at": Account.updated_at}

IDENTIFIER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class AccountError(ValueError):
    """Invalid account data; the message says which field."""


@dataclass
class LoginResult:
    """The outcome of a password login: ok, invalid or locked."""

    outcome: str
    account: Account | None = None
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        """Tell whether the person is authenticated."""
        return self.outcome == "ok"


def normalise_identifier(value: str) -> str:
    """Identifiers are compared case-insensitively, without surrounding spaces."""
    return (value or "").strip().lower()


def find(identifier: str) -> Account | None:
    """Return the account with this identifier, if any."""
    identifier = normalise_identifier(identifier)
    if not identifier or len(identifier) > 64:
        return None
    return db.session.execute(_FIND, {"identifier": identifier}).scalar_one_or_none()


def create(passwords, *, identifier: str, password: str | None, role: str = "responsable",
           given_name: str = "", family_name: str = "", email: str | None = None,
           phone_number: str | None = None, status: str = "active", birthdate=None) -> Account:
    """Create an account; the password is stored only as an argon2id hash."""
    identifier = normalise_identifier(identifier)
    if not IDENTIFIER_RE.match(identifier):
        raise AccountError("identifier: lowercase letters, digits, '.', '_' or '-' (2-64)")
    if role not in ACCOUNT_ROLES:
        raise AccountError(f"role: one of {', '.join(ACCOUNT_ROLES)}")
    if find(identifier) is not None:
        raise AccountError(f"identifier: {identifier} is already taken")
    if status == "active" and not password:
        raise AccountError("password: required for an active account")
    account = Account(
        identifier=identifier,
        role=role,
        status=status,
        given_name=given_name,
        family_name=family_name,
        email=email,
        email_verified=bool(email),
        phone_number=phone_number,
        phone_number_verified=bool(phone_number),
        birthdate=birthdate,
        password_hash=passwords.hash(password) if password else None,
        password_changed_at=utcnow() if password else None,
    )
    db.session.add(account)
    db.session.flush()
    audit.record("account.created", account=account, role=role)
    return account


class LoginService:
    """Password login with progressive locking that every process shares."""

    def __init__(self, passwords, ratelimiter, *, threshold: int, base_seconds: int,
                 max_seconds: int):
        self.passwords = passwords
        self.ratelimiter = ratelimiter
        self.threshold = threshold
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds

    def lock_seconds(self, failures: int) -> int:
        """Lock duration after this many consecutive failures (doubling, capped)."""
        if failures < self.threshold:
            return 0
        return min(self.max_seconds, self.base_seconds * 2 ** (failures - self.threshold))

    def authenticate(self, identifier: str, password: str) -> LoginResult:
        """Check an identifier and password; count failures and lock progressively."""
        identifier = normalise_identifier(identifier)
        account = find(identifier)
        now = utcnow()
        if account is None:
            # Same work and same answers as for a known identifier: a verify, and a
            # lock after the same number of failures (counted in the rate limiter).
            self.passwords.verify(None, password)
            failures = self.ratelimiter.count(f"login-unknown:{identifier}", self.max_seconds)
            seconds = self.lock_seconds(failures)
            audit.record("login.failed", identifier=identifier[:64], reason="unknown")
            if seconds:
                return LoginResult("locked", retry_after=seconds)
            return LoginResult("invalid")
        if account.locked_until and account.locked_until > now:
            self.passwords.verify(None, password)
            audit.record("login.refused_locked", account=account)
            return LoginResult(
                "locked", account, int((account.locked_until - now).total_seconds()) + 1
            )
        if account.status == "provisional":
            # The printed password, however it was typed (case, dashes, spaces).
            password = as_printed_provisional(password)
        if account.status == "disabled" or not self.passwords.verify(
            account.password_hash, password
        ):
            return self._failed(account, now)
        if self.passwords.needs_rehash(account.password_hash):
            account.password_hash = self.passwords.hash(password)
            audit.record("password.rehashed", account=account)
        # One UPDATE, now, in the request's transaction (not a unit-of-work flush); the
        # loaded account is told the new values without becoming dirty.
        db.session.connection().execute(_LOGIN_SUCCEEDED, {"account_id": account.id, "now": now})
        for key, value in (("failed_logins", 0), ("locked_until", None),
                           ("last_login_at", now)):
            set_committed_value(account, key, value)
        audit.record("login.succeeded", account=account, method="pwd")
        return LoginResult("ok", account)

    def _failed(self, account: Account, now) -> LoginResult:
        # Atomic increment, so that parallel wrong guesses all count.
        failures = db.session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(failed_logins=Account.failed_logins + 1, **_UNCHANGED)
            .returning(Account.failed_logins)
        ).scalar_one()
        seconds = self.lock_seconds(failures)
        audit.record("login.failed", account=account, reason="password", failures=failures)
        if seconds:
            db.session.execute(
                update(Account)
                .where(Account.id == account.id)
                .values(locked_until=now + timedelta(seconds=seconds), **_UNCHANGED)
            )
            audit.record("account.locked", account=account, seconds=seconds)
            return LoginResult("locked", account, seconds)
        return LoginResult("invalid", account)


def set_password(passwords, account: Account, password: str) -> None:
    """Replace the password, unlock, and invalidate outstanding links and codes."""
    account.password_hash = passwords.hash(password)
    account.password_changed_at = utcnow()
    account.failed_logins = 0
    account.locked_until = None
    account.security_stamp = (account.security_stamp or 0) + 1
    audit.record("password.changed", account=account)
