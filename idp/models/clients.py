"""Relying services registered with the provider."""

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow


class Client(db.Model):
    """A relying service: its redirect URIs, allowed scopes and keys."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Only a hash of the secret is kept; it is shown once, at creation or rotation.
    secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    grant_types: Mapped[list] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    jwks: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    subject_type: Mapped[str] = mapped_column(String(16), default="pairwise")
    sector_identifier: Mapped[str | None] = mapped_column(String(255), nullable=True)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self):
        return f"<Client {self.client_id} {self.name!r}>"
