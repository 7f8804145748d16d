"""The console's login: the password (counted and locked like every login), then a TOTP
code from the administrator's authenticator application.

Wrong codes are counted per account in the shared rate limiter rather than in
`failed_logins`, because a correct password resets `failed_logins`: someone who knows
the password could otherwise try codes forever. Past the same threshold as passwords,
the account is locked for the same doubling durations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from idp.admin import totp
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.services import audit

ADMIN_ROLE = "admin"


@dataclass
class ConsoleLogin:
    """The outcome of a login step: password_ok, ok, invalid, locked, not_admin, no_totp."""

    outcome: str
    account: Account | None = None
    retry_after: int = 0


def check_password(provider, identifier: str, password: str) -> ConsoleLogin:
    """First step: the identifier and password of an active administrator account."""
    result = provider.login.authenticate(identifier, password)
    if not result.ok:
        return ConsoleLogin(result.outcome, result.account, result.retry_after)
    account = result.account
    if account.role != ADMIN_ROLE or account.status != "active":
        audit.record("admin.login_refused", account=account, reason="not_admin")
        return ConsoleLogin("not_admin", account)
    if not totp.is_enrolled(account):
        audit.record("admin.login_refused", account=account, reason="no_totp")
        return ConsoleLogin("no_totp", account)
    audit.record("admin.password_accepted", account=account)
    return ConsoleLogin("password_ok", account)


def check_code(provider, account: Account, code: str) -> ConsoleLogin:
    """Second step: a TOTP code never used before; wrong codes lead to a lock."""
    now = utcnow()
    if account.locked_until and account.locked_until > now:
        return ConsoleLogin("locked", account,
                            int((account.locked_until - now).total_seconds()) + 1)
    if account.role != ADMIN_ROLE or account.status != "active":
        return ConsoleLogin("not_admin", account)
    outcome, step = totp.check(provider.config["SECRET_KEY"], account, code)
    if outcome == "ok":
        if not totp.accept(account, step):
            # The same code, submitted twice at once: the other request used it.
            audit.record("admin.totp_replayed", account=account, concurrent=True)
            return ConsoleLogin("invalid", account)
        audit.record("admin.login_succeeded", account=account, method="otp")
        return ConsoleLogin("ok", account)
    # Counted before anything is written in this transaction (see RateLimiter).
    failures = provider.ratelimiter.count(
        f"admin-otp:{account.id}", provider.config["LOCK_MAX_SECONDS"]
    )
    audit.record("admin.totp_failed", account=account, failures=failures, reason=outcome)
    seconds = provider.login.lock_seconds(failures)
    if seconds:
        db.session.execute(
            update(Account).where(Account.id == account.id)
            .values(locked_until=now + timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
        audit.record("account.locked", account=account, seconds=seconds, factor="otp")
        return ConsoleLogin("locked", account, seconds)
    return ConsoleLogin("invalid", account)
