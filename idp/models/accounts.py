"""People who log in: pupils, legal representatives and operators."""

import uuid

from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow

ACCOUNT_STATUSES = ("active", "provisional", "disabled")
ACCOUNT_ROLES = ("eleve", "responsable", "admin", "operator")


class Account(db.Model):
    """An identity with an identifier and, once activated, a password."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        String(36), unique=True, default=lambda: str(uuid.uuid4())
    )
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="responsable")
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at = mapped_column(UTCDateTime, nullable=True)
    given_name: Mapped[str] = mapped_column(String(128), default="")
    family_name: Mapped[str] = mapped_column(String(128), default="")
    birthdate = mapped_column(Date, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    phone_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    phone_number_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # A provisional password (distributed by a school) stops working after this date.
    provisional_expires_at = mapped_column(UTCDateTime, nullable=True)
    # The school (UAI) whose notice carries that password, None when an operator issued
    # it: a parent of two schools has one account, and one school's distribution must
    # not void the notice another school handed out. Read only while provisional.
    provisional_uai: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # Second factor of school account administrators (encrypted, like signing keys).
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until = mapped_column(UTCDateTime, nullable=True)
    # Incremented whenever credentials change, so outstanding links die with them.
    security_stamp: Mapped[int] = mapped_column(Integer, default=0)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_login_at = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self):
        return f"<Account {self.identifier}>"
