"""Authorization codes and token grants, stored only as hashes."""

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow


class AuthorizationCode(db.Model):
    """A single-use code bound to a client, a redirect URI and a PKCE challenge."""

    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(1000))
    nonce: Mapped[str | None] = mapped_column(String(512), nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    claims_request: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    expires_at = mapped_column(UTCDateTime, index=True)
    consumed_at = mapped_column(UTCDateTime, nullable=True)

    account = relationship("Account", lazy="joined")


class Token(db.Model):
    """An access token and its optional refresh token, one link of a grant chain."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_grant_id", "grant_id"), Index("ix_tokens_sid", "sid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    # Every token obtained from one authorization code shares its grant id; reuse of a
    # rotated refresh token or replay of the code revokes the whole chain by it.
    grant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The access token's scope (what UserInfo releases).
    scope: Mapped[str] = mapped_column(String(1000))
    # The refresh token's scope: the grant's, however narrow a refresh made the access
    # token (RFC 6749 section 6). Earlier links of the chain are purged, so each row
    # carries it. NULL on rows without a refresh token and on rows written before
    # revision 0006, whose refresh token had their scope.
    refresh_scope: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    claims_request: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at = mapped_column(UTCDateTime, default=utcnow)
    access_expires_at = mapped_column(UTCDateTime)
    refresh_expires_at = mapped_column(UTCDateTime, nullable=True, index=True)
    refresh_used_at = mapped_column(UTCDateTime, nullable=True)
    revoked_at = mapped_column(UTCDateTime, nullable=True)

    account = relationship("Account", lazy="joined")

    # Authlib's TokenMixin
    def check_client(self, client):
        """Tell whether the token belongs to the client."""
        return self.client_id == client.client_id

    def get_scope(self):
        """Return the refresh token's scope, the grant's (Authlib's refresh grant asks).

        A refresh request may only ask for part of it, and gets all of it when it asks
        for nothing (RFC 6749 section 6). The access token's scope is `scope`.
        """
        return self.refresh_scope or self.scope

    def get_expires_in(self):
        """Return the access token lifetime in seconds."""
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired(self):
        """Tell whether the access token has expired."""
        return self.access_expires_at <= utcnow()

    def is_revoked(self):
        """Tell whether the token was revoked."""
        return self.revoked_at is not None

    def get_user(self):
        """Return the account the token was issued to."""
        return self.account
