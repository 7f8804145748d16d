"""Short-lived state of a browser flow (a pending authorization request, a step)."""

from sqlalchemy import JSON
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow


class Flow(db.Model):
    """A flow record keyed by the hash of the random id the browser carries."""

    __tablename__ = "flows"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    expires_at = mapped_column(UTCDateTime, index=True)
