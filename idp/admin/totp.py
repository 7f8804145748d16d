"""The administrators' second factor: TOTP (RFC 6238) seeds sealed at rest, codes
accepted once.

A code is accepted for the current 30-second step and the steps either side of it
(clock drift of the phone), and never twice: the step of the last accepted code is
kept on the account, and a code is only accepted for a later step.
"""

from __future__ import annotations

import hmac
import time

import pyotp
from sqlalchemy import or_
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from idp.extensions import db
from idp.models import Account
from idp.services import audit
from idp.services.sealing import seal
from idp.services.sealing import unseal

ISSUER = "EduConnect"
PURPOSE = b"totp"
INTERVAL = 30
DIGITS = 6
# Steps accepted on each side of the current one (pyotp's valid_window).
VALID_WINDOW = 1


class TotpNotEnrolled(Exception):
    """The account has no second factor configured."""


def enroll(secret_key: str, account: Account) -> str:
    """Give the account a new random seed; return it in base32 (shown once, never again)."""
    seed = pyotp.random_base32()
    account.totp_secret_encrypted = seal(secret_key, PURPOSE, seed, str(account.id))
    # A new seed starts a new sequence of steps.
    account.totp_last_step = None
    audit.record("admin.totp_enrolled", account=account)
    return seed


def is_enrolled(account: Account) -> bool:
    """Tell whether the account has a second factor configured."""
    return bool(account.totp_secret_encrypted)


def seed_of(secret_key: str, account: Account) -> str:
    """Return the account's base32 seed (raise TotpNotEnrolled without one)."""
    if not account.totp_secret_encrypted:
        raise TotpNotEnrolled(account.identifier)
    return unseal(secret_key, PURPOSE, account.totp_secret_encrypted, str(account.id))


def provisioning_uri(account: Account, seed: str) -> str:
    """The otpauth:// URI that authenticator applications read (as a QR code or text)."""
    return pyotp.TOTP(seed, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account.identifier, issuer_name=ISSUER
    )


def normalise_code(code: str | None) -> str:
    """Drop the spaces people type in the middle of a code ("123 456")."""
    return "".join((code or "").split())


def matching_step(seed: str, code: str, at: float | None = None) -> int | None:
    """Return the time step whose code this is, within the window, or None."""
    code = normalise_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=INTERVAL)
    current = int((time.time() if at is None else at) // INTERVAL)
    found = None
    # Every candidate is compared, in constant time, so timing tells nothing.
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def check(secret_key: str, account: Account, code: str,
          at: float | None = None) -> tuple[str, int | None]:
    """Check a code without writing anything: ("ok", step) to pass to accept(),
    ("invalid", None) or ("replayed", step).

    Nothing is written, so that the caller can count a failure in its own short
    transaction first (SQLite lets one writer at a time).
    """
    step = matching_step(seed_of(secret_key, account), code, at)
    if step is None:
        return "invalid", None
    if account.totp_last_step is not None and step <= account.totp_last_step:
        return "replayed", step
    return "ok", step


def accept(account: Account, step: int) -> bool:
    """Record a checked step as used; False if another request used it (or a later one)
    in the meantime.

    The step is recorded with a conditional UPDATE, so that of two requests carrying the
    same code at the same time, only one succeeds.
    """
    accepted = db.session.execute(
        update(Account)
        .where(Account.id == account.id,
               or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if accepted:
        # The row already holds it: mirror it without scheduling a second UPDATE.
        set_committed_value(account, "totp_last_step", step)
    return accepted


def verify(secret_key: str, account: Account, code: str, at: float | None = None) -> bool:
    """Accept a code once: right for a step within the window, later than the last one."""
    outcome, step = check(secret_key, account, code, at)
    return outcome == "ok" and accept(account, step)
