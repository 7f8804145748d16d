"""Streaming reader of ONDE CSV extractions (primary schools): pupils and representatives.

ONDE writes `;`-separated files whose header spelling changed between versions
(`Nom Elève`, `Nom élève`, `Nom de l'élève`...): headers are matched without accents,
case or extra spaces against the variants below. Files are ISO-8859-15 or UTF-8; the
encoding is detected by reading the file once. ONDE files carry neither the school's
UAI nor ids linking representatives to pupils: the UAI is given on the command line
and children are found by name within the school.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterator

from idp.directory import codes
from idp.directory import normalise
from idp.directory.records import FileRejected
from idp.directory.records import LinkRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from idp.directory.textio import text_encoding

PUPIL_COLUMNS = {
    "family_name": ("nom eleve", "nom de l'eleve", "nom de famille eleve", "nom"),
    "usage_name": ("nom d'usage eleve", "nom d'usage de l'eleve", "nom d'usage"),
    "given_name": ("prenom eleve", "prenom de l'eleve", "prenom"),
    "birthdate": ("date naissance", "date de naissance"),
    "sex": ("sexe",),
    "ine": ("ine", "ine eleve", "identifiant national"),
    "level": ("niveau",),
    "class_label": ("libelle classe", "classe"),
    "class_id": ("identifiant classe",),
    "entry_date": ("date d'admission", "date entree", "date d'entree"),
}
PUPIL_REQUIRED = ("family_name", "given_name", "birthdate", "ine")

PERSON_COLUMNS = {
    "civility": ("civilite responsable", "civilite"),
    "usage_name": ("nom usage responsable", "nom d'usage responsable"),
    "birth_name": ("nom responsable", "nom de famille responsable"),
    "given_name": ("prenom responsable",),
    "email": ("courriel", "courriel responsable", "email"),
    "home_phone": ("telephone domicile",),
    "mobile": ("telephone portable", "portable"),
    "legal": ("responsable legal", "niveau de responsabilite", "resp legal"),
}
PERSON_REQUIRED = ("birth_name", "given_name")
CHILD_COLUMNS = {
    "usage_name": ("nom d'usage enfant",),
    "family_name": ("nom de famille enfant", "nom enfant"),
    "given_name": ("prenom enfant",),
    "classes": ("classes enfants", "classe enfant"),
}

_SPACES = re.compile(r"\s+")


def header_key(value: str) -> str:
    """The comparable form of a column title: no accents, case or extra spaces."""
    text = normalise.fold(value).lower().replace("\u2019", "'")
    return _SPACES.sub(" ", text).strip()


def _positions(header: list[str], columns: dict) -> dict[str, int]:
    keys = [header_key(h) for h in header]
    found = {}
    for field, variants in columns.items():
        for variant in variants:
            if variant in keys:
                found[field] = keys.index(variant)
                break
    return found


def _read_header(path, encoding: str) -> list[str]:
    try:
        with open(path, encoding=encoding, newline="") as fh:
            return next(csv.reader(fh, delimiter=";"), [])
    except csv.Error as exc:
        raise FileRejected(f"{path}: not an ONDE extraction: {exc}") from exc


def sniff(path, encoding: str | None = None) -> str:
    """Return the kind of an ONDE file (eleves or responsables) from its header."""
    name = str(path)
    header = _read_header(path, encoding or text_encoding(path))
    if len(header) < 3:
        raise FileRejected(
            f"{name}: not an ONDE extraction: expected a ';'-separated header line"
        )
    pupil = _positions(header, PUPIL_COLUMNS)
    if all(f in pupil for f in PUPIL_REQUIRED) and "birth_name" not in _positions(
        header, PERSON_COLUMNS
    ):
        return "eleves"
    person = _positions(header, PERSON_COLUMNS)
    if all(f in person for f in PERSON_REQUIRED):
        return "responsables"
    missing = [f for f in PUPIL_REQUIRED if f not in pupil]
    raise FileRejected(
        f"{name}: not an ONDE pupils or representatives extraction "
        f"(pupil columns missing: {', '.join(missing)}; "
        "representative columns 'Nom responsable' and 'Prénom responsable' missing)"
    )


def _cell(row: list[str], positions: dict, field: str) -> str:
    index = positions.get(field)
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


class OndeFile:
    """One ONDE extraction, its kind read from its header."""

    def __init__(self, path):
        self.path = str(path)
        self.name = self.path
        self.encoding = text_encoding(self.path)
        self.kind = sniff(self.path, self.encoding)
        self.size = os.path.getsize(self.path)
        self.position = 0

    def records(self) -> Iterator:
        """Yield records and Problems in file order."""
        header = _read_header(self.path, self.encoding)
        with open(self.path, encoding=self.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=";")
            next(reader, None)
            try:
                if self.kind == "eleves":
                    yield from self._pupils(reader, header, fh.buffer)
                else:
                    yield from self._people(reader, header, fh.buffer)
            except csv.Error as exc:
                raise FileRejected(
                    f"{self.name}: unreadable CSV at line {reader.line_num}: {exc}"
                ) from exc
        self.position = self.size

    def _pupils(self, reader, header, raw) -> Iterator:
        pos = _positions(header, PUPIL_COLUMNS)
        for row in reader:
            self.position = raw.tell()
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            yield self._pupil(row, pos, line)

    def _pupil(self, row, pos, line) -> PupilRecord | Problem:
        family = normalise.clean_name(_cell(row, pos, "family_name"))
        given = normalise.clean_name(_cell(row, pos, "given_name"))
        ref = f"{family} {given}".strip() or "?"
        try:
            ine = codes.check_ine(_cell(row, pos, "ine"))
        except ValueError as exc:
            return Problem(line, ref, str(exc))
        if not family or not given:
            return Problem(line, ref, "Nom élève and Prénom élève are required")
        try:
            birthdate = normalise.parse_date(_cell(row, pos, "birthdate"))
            entry = normalise.parse_date(_cell(row, pos, "entry_date"))
        except ValueError as exc:
            return Problem(line, ref, str(exc))
        if birthdate is None:
            return Problem(line, ref, "Date naissance missing")
        usage = normalise.clean_name(_cell(row, pos, "usage_name"))
        return PupilRecord(
            line=line, ref=f"INE {ine}", ine=ine, source_id=None, family_name=family,
            usage_name=usage if usage and usage != family else None, given_name=given,
            birthdate=birthdate, sex=normalise.sex(_cell(row, pos, "sex")), mef=None,
            level_label=normalise.clean_name(_cell(row, pos, "level")) or None,
            division=normalise.clean_name(_cell(row, pos, "class_label")) or None,
            entry_date=entry, exit_date=None,
        )

    def _people(self, reader, header, raw) -> Iterator:
        pos = _positions(header, PERSON_COLUMNS)
        keys = [header_key(h) for h in header]
        child_start = min(
            (keys.index(v) for variants in CHILD_COLUMNS.values() for v in variants
             if v in keys),
            default=None,
        )
        if child_start is None:
            raise FileRejected(f"{self.name}: no children columns ('Prénom enfant'...)")
        group = _positions(header[child_start:], CHILD_COLUMNS)
        width = max(group.values()) + 1
        for row in reader:
            self.position = raw.tell()
            if not any(cell.strip() for cell in row):
                continue
            yield from self._person(row, pos, group, width, child_start, reader.line_num)

    def _person(self, row, pos, group, width, child_start, line) -> Iterator:
        birth = normalise.clean_name(_cell(row, pos, "birth_name"))
        given = normalise.clean_name(_cell(row, pos, "given_name"))
        ref = f"{birth} {given}".strip() or "?"
        if not birth or not given:
            yield Problem(line, ref, "Nom responsable and Prénom responsable are required")
            return
        legal = _cell(row, pos, "legal")
        level = None
        if legal:
            flag = normalise.yes_no(legal)
            if legal in ("1", "2"):
                level = int(legal)
            elif flag is False:
                return  # a contact, not a legal representative: never linked
        written = _cell(row, pos, "mobile")
        mobile = normalise.phone_e164(written)
        if written and mobile is None:
            yield Problem(line, ref, f"Téléphone portable {written!r} is not a phone number: "
                          "imported without a mobile", rejected=False)
        if mobile is None:
            home = normalise.phone_e164(_cell(row, pos, "home_phone"))
            mobile = home if normalise.is_mobile(home) else None
        email = _cell(row, pos, "email")
        # ONDE has no person id: the record is named by who it is within the school.
        digest = hashlib.sha256(
            f"{normalise.name_key(birth)}|{normalise.name_key(given)}|{mobile or email}"
            .encode()
        ).hexdigest()[:32]
        usage = normalise.clean_name(_cell(row, pos, "usage_name"))
        yield PersonRecord(
            line=line, ref=ref, source_id=digest,
            civility=normalise.civility(_cell(row, pos, "civility")), birth_name=birth,
            usage_name=usage if usage and usage != birth else None, given_name=given,
            mobile=mobile, email=email if "@" in email else None, sms_consent=None,
        )
        for start in range(child_start, len(row), width):
            cells = row[start:start + width]
            child = {f: (cells[i].strip() if i < len(cells) else "") for f, i in group.items()}
            if not child.get("given_name") or not (
                child.get("family_name") or child.get("usage_name")
            ):
                continue
            yield LinkRecord(
                line=line, ref=f"{ref} -> {child.get('family_name')} {child['given_name']}",
                person_source_id=digest, legal_level=level,
                pupil_names=(child.get("family_name", ""), child.get("usage_name", ""),
                             child["given_name"]),
            )
