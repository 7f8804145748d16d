"""Single-sign-on sessions held by the server, and the clients each one logged into."""

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow


class SsoSession(db.Model):
    """A browser's login; the cookie holds a secret whose hash is the key."""

    __tablename__ = "sso_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Public session id sent to relying services as the `sid` claim.
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    auth_time: Mapped[int] = mapped_column(Integer)
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amr: Mapped[list] = mapped_column(JSON, default=list)
    # Federation data (e.g. the upstream ID token needed to log out upstream).
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow)
    expires_at = mapped_column(UTCDateTime, index=True)
    ended_at = mapped_column(UTCDateTime, nullable=True)

    account = relationship("Account", lazy="joined")
    clients = relationship(
        "SessionClient", cascade="all, delete-orphan", back_populates="session"
    )


class SessionClient(db.Model):
    """A client that received tokens within a session (for back-channel logout)."""

    __tablename__ = "session_clients"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sso_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)

    session = relationship("SsoSession", back_populates="clients")
