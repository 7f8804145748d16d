"""Access and refresh tokens: issue, look up, rotate and revoke (stored as hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from functools import cached_property

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from idp.extensions import db
from idp.models import Account
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
          refresh_scope: str, origin, access_ttl: int, refresh_ttl: int) -> None:
    """Save hashes of a token response; origin is the code or refresh token it came from.

    scope is the access token's; refresh_scope the refresh token's (the grant's).
    """
    now = utcnow()
    refresh = token.get("refresh_token")
    db.session.execute(_INSERT_TOKEN, {
        "access_token_hash": token_hash(token["access_token"]),
        "refresh_token_hash": token_hash(refresh) if refresh else None,
        "grant_id": grant_id,
        "client_id": client_id,
        "account_id": account.id,
        "scope": scope,
        "refresh_scope": refresh_scope if refresh else None,
        "claims_request": origin.claims_request,
        "auth_time": origin.auth_time,
        "acr": origin.acr,
        "amr": origin.amr,
        "sid": origin.sid,
        "issued_at": now,
        "access_expires_at": now + timedelta(seconds=access_ttl),
        "refresh_expires_at": now + timedelta(seconds=refresh_ttl) if refresh else None,
    })
    audit.record("token.issued", account=account, client_id=client_id, scope=scope,
                 refresh=bool(refresh))


_INSERT_TOKEN = insert(Token.__table__)


def find_access(value: str | None):
    """Return the live grant of an access token value, or None.

    UserInfo calls this on every request, so it reads one joined row instead of ORM
    objects: the token's client_id, scope and claims_request, and the account's columns
    (without its secrets), all as attributes of the returned row.
    """
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    row = db.session.execute(_ACCESS_GRANT, {"digest": token_hash(value)}).first()
    if row is None or row.revoked_at is not None or row.access_expires_at <= utcnow():
        return None
    if row.status == "disabled":
        return None
    return row


def find_refresh(value: str | None) -> Token | None:
    """Return the token row holding this refresh token, live or not."""
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    return db.session.execute(_BY_REFRESH, {"digest": token_hash(value)}).scalar_one_or_none()


def find_access_row(value: str | None) -> Token | None:
    """Return the token row holding this access token, live or not."""
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    return db.session.execute(_BY_ACCESS, {"digest": token_hash(value)}).scalar_one_or_none()


# Token type names of RFC 7009's hint registry, not secrets.
ACCESS_TOKEN = "access_token"  # noqa: S105
REFRESH_TOKEN = "refresh_token"  # noqa: S105


@dataclass(frozen=True)
class Presented:
    """A token value sent to revocation or introspection: its row, and which of the
    row's two tokens (access or refresh) the value is."""

    row: Token
    kind: str

    def check_client(self, client) -> bool:
        """Tell whether the token belongs to the client (Authlib's revocation asks)."""
        return self.row.check_client(client)

    @property
    def scope(self) -> str:
        """The scope of this token: the access token's, or the refresh token's."""
        return self.row.get_scope() if self.kind == REFRESH_TOKEN else self.row.scope

    def live_until(self) -> datetime | None:
        """When this token stops being usable, or None if it is not usable now.

        A refresh token is judged as the token endpoint judges it (unused, unrevoked,
        unexpired), whatever became of the access token issued beside it.
        """
        row = self.row
        if row.revoked_at is not None or row.account.status == "disabled":
            return None
        if self.kind == REFRESH_TOKEN:
            if row.refresh_used_at is not None:
                return None
            expires = row.refresh_expires_at
        else:
            expires = row.access_expires_at
        if expires is None or expires <= utcnow():
            return None
        return expires


def find_presented(value: str | None, hint: str | None = None) -> Presented | None:
    """Find an access or refresh token by its value, trying the hinted type first.

    The hint is only a hint (RFC 7009 2.1, RFC 7662 2.1): the search covers both types
    whatever it says, and an unknown hint is ignored.
    """
    finders = [(ACCESS_TOKEN, find_access_row), (REFRESH_TOKEN, find_refresh)]
    if hint == REFRESH_TOKEN:
        finders.reverse()
    for kind, finder in finders:
        row = finder(value)
        if row is not None:
            return Presented(row, kind)
    return None


# Statements of the protocol's hot paths are built once: SQLAlchemy then skips building
# and keying them on every request.
_TOKENS = Token.__table__
_ACCOUNTS = Account.__table__
_ACCOUNT_SECRETS = {"password_hash", "totp_secret_encrypted", "security_stamp"}
_ACCESS_GRANT = (
    select(
        _TOKENS.c.client_id, _TOKENS.c.scope, _TOKENS.c.claims_request,
        _TOKENS.c.revoked_at, _TOKENS.c.access_expires_at,
        *(c for c in _ACCOUNTS.c if c.name not in _ACCOUNT_SECRETS),
    )
    .join_from(_TOKENS, _ACCOUNTS, _ACCOUNTS.c.id == _TOKENS.c.account_id)
    .where(_TOKENS.c.access_token_hash == bindparam("digest"))
)
_BY_REFRESH = select(Token).where(Token.refresh_token_hash == bindparam("digest"))
_BY_ACCESS = select(Token).where(Token.access_token_hash == bindparam("digest"))


def claim_refresh(row: Token) -> bool:
    """Mark a refresh token used, atomically; False if it was already used."""
    result = db.session.execute(
        update(Token)
        .where(Token.id == row.id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None))
        .values(refresh_used_at=utcnow())
    )
    return result.rowcount == 1


class IssuedCode:
    """A claimed authorization code: the stored row, read as Authlib expects it."""

    def __init__(self, row):
        self.__dict__.update(row._mapping)

    @cached_property
    def account(self):
        """The account the code was issued to."""
        return db.session.execute(_ACCOUNT, {"id": self.account_id}).scalar_one()

    def get_redirect_uri(self):
        """Return the redirect URI the code was issued for."""
        return self.redirect_uri

    def get_scope(self):
        """Return the granted scope."""
        return self.scope

    def get_nonce(self):
        """Return the nonce of the authorization request."""
        return self.nonce

    def get_auth_time(self):
        """Return when the person authenticated (epoch seconds)."""
        return self.auth_time

    def get_acr(self):
        """Return the authentication context class reached."""
        return self.acr

    def get_amr(self):
        """Return the authentication methods used."""
        return self.amr


def save_code(code: str, **values) -> None:
    """Store a new authorization code's hash with what the token response will need."""
    db.session.execute(_INSERT_CODE, {"code_hash": token_hash(code), "consumed_at": None,
                                      "created_at": utcnow(), **values})


_CODES = AuthorizationCode.__table__
_INSERT_CODE = insert(_CODES)
_CLAIM_CODE = (
    update(_CODES)
    .where(_CODES.c.code_hash == bindparam("digest"),
           _CODES.c.client_id == bindparam("client"),
           _CODES.c.consumed_at.is_(None))
    .values(consumed_at=bindparam("now"))
    .returning(*_CODES.c)
)
_CODE = select(_CODES).where(_CODES.c.code_hash == bindparam("digest"))
_ACCOUNT = select(Account).where(Account.id == bindparam("id"))


def claim_code(code: str, client_id: str) -> tuple[IssuedCode | None, str]:
    """Consume a code, atomically: return (code, "ok") or (None|code, reason)."""
    if not code or not isinstance(code, str) or len(code) > 256:
        return None, "unknown"
    digest = token_hash(code)
    now = utcnow()
    # One statement on the normal path: only the first redemption by its own client
    # gets the row back, however many arrive in parallel.
    row = db.session.execute(
        _CLAIM_CODE, {"digest": digest, "client": client_id, "now": now}
    ).first()
    if row is None:
        row = db.session.execute(_CODE, {"digest": digest}).first()
        if row is None:
            return None, "unknown"
        if row.client_id != client_id:
            return None, "other_client"
        return IssuedCode(row), "replayed"
    if row.expires_at <= now:
        return IssuedCode(row), "expired"
    return IssuedCode(row), "ok"


def spend_code(code_hash: str) -> None:
    """Mark a code consumed (after a failed redemption, whose transaction was undone)."""
    db.session.execute(
        update(_CODES)
        .where(_CODES.c.code_hash == code_hash, _CODES.c.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )


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
    """Revoke the tokens issued within a session; an offline grant keeps only its
    refresh token, and its access token ends with the session."""
    rows = db.session.execute(
        db.select(Token).where(Token.sid == sid, Token.revoked_at.is_(None))
    ).scalars().all()
    now = utcnow()
    count = 0
    for row in rows:
        # The refresh token's scope decides: a refresh may have narrowed the access
        # token's scope without making the grant any less offline.
        if keep_offline and "offline_access" in row.get_scope().split():
            if row.access_expires_at > now:
                row.access_expires_at = now
            continue
        row.revoked_at = now
        count += 1
    return count


def revoke_account(account_id: int) -> int:
    """Revoke every live token of an account."""
    return db.session.execute(
        update(Token)
        .where(Token.account_id == account_id, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
