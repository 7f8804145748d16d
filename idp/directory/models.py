"""The school directory: académies, schools, pupils, legal representatives, families.

Rows come from the national pupil databases (SIECLE for secondary schools, ONDE for
primary schools) through `idp.directory.importer`; accounts are linked to them. The
importer writes through these tables with SQLAlchemy Core for speed, so the checks
that `validates` makes here are made there too (see `idp.directory.codes`).
"""

from __future__ import annotations

from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import SmallInteger
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates

from idp.directory import codes
from idp.extensions import db
from idp.models.base import UTCDateTime
from idp.models.base import utcnow

DEGREES = ("1d", "2d")


class Academie(db.Model):
    """An académie: the schools of a group of départements."""

    __tablename__ = "academies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))


class School(db.Model):
    """A school (école, collège, lycée) identified by its UAI."""

    __tablename__ = "schools"
    __table_args__ = (CheckConstraint("degree IN ('1d', '2d')", name="degree"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uai: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    academie_id: Mapped[int | None] = mapped_column(
        ForeignKey("academies.id"), nullable=True, index=True
    )
    degree: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # ANNEE_SCOLAIRE of the last file imported for this school.
    school_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    academie = relationship(Academie, lazy="joined")

    @validates("uai")
    def _check_uai(self, key, value):
        return codes.check_uai(value)


class Mef(db.Model):
    """A MEF (module élémentaire de formation) and its MEFSTAT level, from Nomenclature.xml."""

    __tablename__ = "mefs"

    code: Mapped[str] = mapped_column(String(11), primary_key=True)
    mefstat11: Mapped[str | None] = mapped_column(String(11), nullable=True)
    mefstat4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    label: Mapped[str] = mapped_column(String(100), default="")


class Pupil(db.Model):
    """A pupil, keyed by INE for the whole schooling, whatever the school or académie."""

    __tablename__ = "pupils"
    __table_args__ = (
        CheckConstraint("degree IN ('1d', '2d')", name="degree"),
        Index("ix_pupils_school_source", "school_id", "source_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ine: Mapped[str] = mapped_column(String(11), unique=True)
    # The pupil's account, created provisional at the first import and kept for life.
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    # Indexed by ix_pupils_school_source, which starts with it.
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), nullable=True)
    # ELEVE_ID in the school's SIECLE base: what the representatives file links to.
    source_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    family_name: Mapped[str] = mapped_column(String(128))
    usage_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    given_name: Mapped[str] = mapped_column(String(128))
    # name_key(family) + "|" + name_key(given): how ONDE representatives name children.
    name_key: Mapped[str] = mapped_column(String(200), default="")
    birthdate = mapped_column(Date, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(1), nullable=True)
    division: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mef: Mapped[str | None] = mapped_column(String(11), nullable=True)
    mefstat4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    level_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    degree: Mapped[str] = mapped_column(String(2))
    entry_date = mapped_column(Date, nullable=True)
    exit_date = mapped_column(Date, nullable=True)
    # Set when the pupil's school stops listing them; the row and account are kept.
    left_at = mapped_column(UTCDateTime, nullable=True)
    school_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    school = relationship(School, lazy="joined")

    @validates("ine")
    def _check_ine(self, key, value):
        return codes.check_ine(value)


class ParentIdentity(db.Model):
    """One parent across académies: representative records sharing a matching key.

    The grouping is a proposal made by the importer; it becomes the parent's when an
    account is linked to it (`account_id`) and the parent confirms it (`confirmed_at`).
    """

    __tablename__ = "parent_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # birth name key | first name key | mobile in E.164 (see idp.directory.family).
    key: Mapped[str] = mapped_column(String(300), unique=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    confirmed_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow)


class Representative(db.Model):
    """A legal representative as one school's file describes them."""

    __tablename__ = "representatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Where the record comes from: "siecle:<UAI>:<PERSONNE_ID>" or "onde:<UAI>:<digest>".
    source_key: Mapped[str] = mapped_column(String(96), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    civility: Mapped[str | None] = mapped_column(String(4), nullable=True)
    birth_name: Mapped[str] = mapped_column(String(128))
    usage_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    given_name: Mapped[str] = mapped_column(String(128))
    # Indexed by migration 0003: self-activation looks parents up by mobile number.
    mobile: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    sms_consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("parent_identities.id"), nullable=True, index=True
    )
    created_at = mapped_column(UTCDateTime, default=utcnow)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    identity = relationship(ParentIdentity)


class RepresentativeLink(db.Model):
    """The legal link (level 1 or 2) between a representative and a pupil.

    Non-legal contacts are not linked. Links are the current state of the files: a
    link a new file no longer lists is deleted. Whether a parent has confirmed a child
    is kept apart, in ChildConfirmation, so that it survives a change of school.
    """

    __tablename__ = "representative_links"
    __table_args__ = (
        UniqueConstraint("representative_id", "pupil_id"),
        CheckConstraint("legal_level IN (1, 2)", name="legal_level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    representative_id: Mapped[int] = mapped_column(
        ForeignKey("representatives.id", ondelete="CASCADE")
    )
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    legal_level: Mapped[int] = mapped_column(SmallInteger)
    created_at = mapped_column(UTCDateTime, default=utcnow)


class ChildConfirmation(db.Model):
    """A parent account's answer about a pupil proposed as their child.

    `confirmed_at` releases the child in the `children` claim; `refused_at` ("I am not
    this pupil's legal representative") stops proposing them.
    """

    __tablename__ = "child_confirmations"
    __table_args__ = (UniqueConstraint("account_id", "pupil_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), index=True)
    confirmed_at = mapped_column(UTCDateTime, nullable=True)
    refused_at = mapped_column(UTCDateTime, nullable=True)


class IdentifierCounter(db.Model):
    """The last number used after an identifier stem (`j.martin` -> 7 for `j.martin7`)."""

    __tablename__ = "identifier_counters"

    stem: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class IssuedIdentifier(db.Model):
    """Every identifier ever generated, kept after its account is gone: never reused."""

    __tablename__ = "identifier_history"

    identifier: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: the row outlives the account on purpose.
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    issued_at = mapped_column(UTCDateTime, default=utcnow)
