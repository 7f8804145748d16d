"""What the SIECLE and ONDE readers produce, whatever the format they read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


class FileRejected(Exception):
    """The whole file is refused (wrong kind, not well-formed, unsafe); nothing is written."""


@dataclass(slots=True)
class Problem:
    """A row that could not be imported (or, if not `rejected`, imported with a warning).

    `ref` names the row for people and may be reworded at will. `key` is the identity of
    a rejected row, when it can still be read, for the importer to leave what the
    directory holds under it as it was: (ELEVE_ID,) for a SIECLE pupil, (PERSONNE_ID,)
    for a SIECLE person, (PERSONNE_ID, ELEVE_ID) for a SIECLE legal link, and for an ONDE
    pupil or person (`normalise.pupil_key` of its names,). None when the row names no one.
    """

    line: int
    ref: str
    reason: str
    rejected: bool = True
    key: tuple[str, ...] | None = None


@dataclass(slots=True)
class Header:
    """The school and school year a file is about."""

    uai: str | None
    year: int | None


@dataclass(slots=True)
class PupilRecord:
    """A pupil as listed by a school."""

    line: int
    ref: str
    ine: str
    source_id: str | None
    family_name: str
    usage_name: str | None
    given_name: str
    birthdate: date | None
    sex: str | None
    mef: str | None
    level_label: str | None
    division: str | None
    entry_date: date | None
    exit_date: date | None
    # (UAI, name) of the school attended the year before, when the file says it.
    previous_school: tuple[str, str] | None = None


@dataclass(slots=True)
class DivisionRecord:
    """The class (division) of a pupil, listed apart from the pupil in SIECLE files."""

    line: int
    source_id: str
    division: str | None


@dataclass(slots=True)
class MefRecord:
    """A MEF code with its MEFSTAT code and label (Nomenclature.xml)."""

    line: int
    code: str
    mefstat11: str | None
    label: str


@dataclass(slots=True)
class PersonRecord:
    """A representative as one school's file describes them."""

    line: int
    ref: str
    source_id: str
    civility: str | None
    birth_name: str
    usage_name: str | None
    given_name: str
    mobile: str | None
    email: str | None
    sms_consent: bool | None


@dataclass(slots=True)
class LinkRecord:
    """A legal link between a person and a pupil of the same file set.

    SIECLE names the pupil by ELEVE_ID (`pupil_source_id`); ONDE only by names
    (`pupil_names`: family name, usage name, first name).
    """

    line: int
    ref: str
    person_source_id: str
    legal_level: int | None
    pupil_source_id: str | None = None
    pupil_names: tuple[str, str, str] | None = None
