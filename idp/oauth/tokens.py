"""Access and refresh tokens: issue, look up, rotate and revoke (stored as hashes)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Token
from idp.models.base import utcnow
from idp.services import audit
from idp.services.secrets import new_token
from idp.services.secrets import token_hash


def generate(include_refresh_token: bool, access_ttl: int) -> dict:
    """Return a new bearer token response body (values in clear, shown once)."""
    token = {"token_type": "Bearer", "access_token": new_token(32), "expires_in": access_ttl}
    if include_refresh_token:
        token["refresh_token"] = new_token(32)
    return token


def store(token: dict, *, grant_id: str, client_id: str, account, scope: str,
          origin, access_ttl: int, refresh_ttl: int) -> Token:
    """Save hashes of a token response; origin is the code or refresh token it came from."""
    now = utcnow()
    row = Token(
        access_token_hash=token_hash(token["access_token"]),
        refresh_token_hash=token_hash(token["refresh_token"]) if token.get("refresh_token")
        else None,
        grant_id=grant_id,
        client_id=client_id,
        account_id=account.id,
        scope=scope,
        claims_request=origin.claims_request,
        auth_time=origin.auth_time,
        acr=origin.acr,
        amr=origin.amr,
        sid=origin.sid,
        issued_at=now,
        access_expires_at=now + timedelta(seconds=access_ttl),
        refresh_expires_at=now + timedelta(seconds=refresh_ttl)
        if token.get("refresh_token") else None,
    )
    row.account = account
    db.session.add(row)
    audit.record("token.issued", account=account, client_id=client_id, scope=scope,
                 refresh=bool(token.get("refresh_token")))
    return row


def find_access(value: str | None) -> Token | None:
    """Return the live token for an access token value, or None."""
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    row = db.session.execute(
        db.select(Token).where(Token.access_token_hash == token_hash(value))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.access_expires_at <= utcnow():
        return None
    if row.account.status == "disabled":
        return None
    return row


def find_refresh(value: str | None) -> Token | None:
    """Return the token row holding this refresh token, live or not."""
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    return db.session.execute(
        db.select(Token).where(Token.refresh_token_hash == token_hash(value))
    ).scalar_one_or_none()


def claim_refresh(row: Token) -> bool:
    """Mark a refresh token used, atomically; False if it was already used."""
    result = db.session.execute(
        update(Token)
        .where(Token.id == row.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None))
        .values(refresh_used_at=utcnow())
    )
    return result.rowcount == 1


def claim_code(code: str, client_id: str) -> tuple[AuthorizationCode | None, str]:
    """Consume a code, atomically: return (code, "ok") or (None|code, reason)."""
    if not code or not isinstance(code, str) or len(code) > 256:
        return None, "unknown"
    digest = token_hash(code)
    row = db.session.execute(
        db.select(AuthorizationCode).where(AuthorizationCode.code_hash == digest)
    ).scalar_one_or_none()
    if row is None:
        return None, "unknown"
    if row.client_id != client_id:
        return None, "other_client"
    result = db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == row.id, AuthorizationCode.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )
    if result.rowcount != 1:
        return row, "replayed"
    if row.expires_at <= utcnow():
        return row, "expired"
    return row, "ok"


def revoke_grant(grant_id: str, reason: str) -> int:
    """Revoke every token of a grant chain; return how many were live."""
    count = db.session.execute(
        update(Token)
        .where(Token.grant_id == grant_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
    audit.record("token.chain_revoked", grant_id=grant_id[:12], reason=reason, count=count)
    return count


def revoke(row: Token, reason: str) -> None:
    """Revoke one token row (its access and refresh tokens)."""
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record("token.revoked", account=row.account, client_id=row.client_id,
                     reason=reason)


def revoke_session(sid: str, keep_offline: bool = True) -> int:
    """Revoke the tokens issued within a session (offline grants may survive logout)."""
    rows = db.session.execute(
        db.select(Token).where(Token.sid == sid, Token.revoked_at.is_(None))
    ).scalars().all()
    count = 0
    for row in rows:
        if keep_offline and "offline_access" in row.scope.split():
            continue
        row.revoked_at = utcnow()
        count += 1
    return count


def revoke_account(account_id: int) -> int:
    """Revoke every live token of an account."""
    return db.session.execute(
        update(Token)
        .where(Token.account_id == account_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
