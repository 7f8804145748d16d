"""Accounts: creation, password login with progressive locking, password changes."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import or_
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

#: Failures stop counting as consecutive once this long has passed since the end of the
#: lock they caused (or since the failure itself, when it did not lock): Keycloak's
#: "failure reset time", here one day, for known and unknown identifiers alike. Not
#: shorter: with an hour (the longest lock), a patient guesser would get threshold - 1
#: free tries every hour or so, about a hundred a day per identifier, instead of about
#: thirty a day, almost all of them spent while locked. Not longer: a person's failures
#: of yesterday should not lock them for an hour at today's first typing mistake. No
#: lockout policy stops someone who sends one wrong password an hour from keeping an
#: account locked; « Mot de passe oublié » unlocks it (set_password resets the count).
FAILURE_RESET_SECONDS = 24 * 3600


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
    """Password login with progressive locking that every process shares.

    A known identifier keeps its state in its account: `failed_logins`, the consecutive
    failures, and `locked_until`, written at every failure as the end of the lock it
    causes, which is the failure's own time when it does not lock (so no separate "last
    failure" column is needed). An unknown identifier keeps the same state as a streak
    in the shared rate limiter, under a keyed hash of the identifier: from outside, both
    give the same answers at the same times, and cost the same password verify.
    """

    def __init__(self, passwords, ratelimiter, *, threshold: int, base_seconds: int,
                 max_seconds: int, reset_seconds: int = FAILURE_RESET_SECONDS,
                 clock=utcnow, key_secret: str):
        self.passwords = passwords
        self.ratelimiter = ratelimiter
        self.threshold = threshold
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.key_secret = key_secret

    def lock_seconds(self, failures: int) -> int:
        """Lock duration after this many consecutive failures (doubling, capped)."""
        if failures < self.threshold:
            return 0
        return min(self.max_seconds, self.base_seconds * 2 ** (failures - self.threshold))

    def unknown_key(self, identifier: str) -> str:
        """The rate limiter key of an unknown identifier: an HMAC, never the identifier
        (people type passwords in the identifier field; the key outlives the request)."""
        digest = hmac.new(f"login-unknown:{self.key_secret}".encode(),
                          normalise_identifier(identifier).encode(), hashlib.sha256)
        return f"login-unknown:{digest.hexdigest()}"

    def authenticate(self, identifier: str, password: str) -> LoginResult:
        """Check an identifier and password; count failures and lock progressively."""
        identifier = normalise_identifier(identifier)
        account = find(identifier)
        now = self.clock()
        if account is None:
            return self._unknown(identifier, password, now)
        if account.locked_until and account.locked_until > now:
            self.passwords.verify(None, password)
            audit.record("login.refused_locked", account=account)
            return LoginResult("locked", account, _seconds_left(account.locked_until, now))
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
        # Atomic increment, so that parallel wrong guesses all count; it restarts at 1
        # once the last failure (its lock's end) is reset_seconds old. The row stays
        # locked until the request ends, so the next guess reads this one's locked_until.
        decayed = or_(Account.locked_until.is_(None),
                      Account.locked_until <= now - timedelta(seconds=self.reset_seconds))
        failures = db.session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(failed_logins=case((decayed, 1), else_=Account.failed_logins + 1),
                    **_UNCHANGED)
            .returning(Account.failed_logins)
        ).scalar_one()
        seconds = self.lock_seconds(failures)
        audit.record("login.failed", account=account, reason="password", failures=failures)
        db.session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(locked_until=now + timedelta(seconds=seconds), **_UNCHANGED)
        )
        if seconds:
            audit.record("account.locked", account=account, seconds=seconds)
            return LoginResult("locked", account, seconds)
        return LoginResult("invalid", account)

    def _unknown(self, identifier: str, password: str, now) -> LoginResult:
        # The same steps as for an account, on a streak in the shared rate limiter: read
        # the state, verify (against no hash), refuse while locked without counting, or
        # count and lock. The limiter commits on its own, before anything is written in
        # the request's transaction (see RateLimiter).
        key = self.unknown_key(identifier)
        # What was typed is not kept (it may be a password typed in the wrong field):
        # events of the same unknown identifier share a short keyed digest instead.
        typed = key.rsplit(":", 1)[1][:16]
        _, until = self.ratelimiter.streak(key, now, self.reset_seconds)
        self.passwords.verify(None, password)
        if until is not None and until > now:
            audit.record("login.refused_locked", reason="unknown", typed=typed)
            return LoginResult("locked", retry_after=_seconds_left(until, now))
        failures = self.ratelimiter.add_to_streak(key, now, self.reset_seconds)
        seconds = self.lock_seconds(failures)
        if seconds:
            self.ratelimiter.hold_streak(key, now + timedelta(seconds=seconds), now,
                                         self.reset_seconds)
        audit.record("login.failed", reason="unknown", typed=typed, failures=failures)
        if seconds:
            return LoginResult("locked", retry_after=seconds)
        return LoginResult("invalid")


def _seconds_left(until, now) -> int:
    return int((until - now).total_seconds()) + 1


def set_password(passwords, account: Account, password: str) -> None:
    """Replace the password, unlock, and invalidate outstanding links and codes."""
    account.password_hash = passwords.hash(password)
    account.password_changed_at = utcnow()
    account.failed_logins = 0
    account.locked_until = None
    account.security_stamp = (account.security_stamp or 0) + 1
    audit.record("password.changed", account=account)
