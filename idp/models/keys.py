"""Signing keys shared by every server process through the database."""

from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow

KEY_STATES = ("next", "active", "retired")


class SigningKey(db.Model):
    """A private JWK, encrypted at rest with a key derived from the secret key."""

    __tablename__ = "signing_keys"
    # One active and one next key per algorithm, whatever processes race to create them.
    __table_args__ = (
        Index("uq_signing_keys_alg_state", "alg", "state", unique=True,
              sqlite_where=text("state != 'retired'"),
              postgresql_where=text("state != 'retired'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8))
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    activated_at = mapped_column(UTCDateTime, nullable=True)
    retired_at = mapped_column(UTCDateTime, nullable=True)
    # A retired key stays published until then, so tokens it signed still verify.
    expires_at = mapped_column(UTCDateTime, nullable=True)
