"""School account administrators and the schools they administer."""

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow


class AdminScope(db.Model):
    """An administrator account may manage the accounts of the school with this UAI."""

    __tablename__ = "admin_scopes"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    uai: Mapped[str] = mapped_column(String(8), primary_key=True, index=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
