"""Streaming reader of ONDE CSV extractions (primary schools): pupils and representatives.

ONDE writes `;`-separated files whose header spelling changed between versions
(`Nom Elève`, `Nom élève`, `Nom de l'élève`...): headers are matched without accents,
case or extra spaces against the variants below. Files are ISO-8859-15, Windows-1252
(saved from Excel) or UTF-8; the encoding is detected by reading the file once
(`textio.text_encoding`). ONDE files carry neither the school's UAI nor ids linking
representatives to pupils: the UAI is given on the command line and children are found
by name within the school.

A quote left open in a cell makes the csv module read the following lines into that
cell: such a file is refused (its swallowed pupils would otherwise be marked as left),
and a pupils row whose cells do not match the header's columns is rejected.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterator

from idp.directory import codes
from idp.directory import family
from idp.directory import normalise
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.records import FileRejected
from idp.directory.records import LinkRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from idp.directory.textio import is_zip
from idp.directory.textio import open_text
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
    "address": ("adresse responsable",),
    "postcode": ("cp responsable", "code postal responsable"),
    "city": ("commune responsable",),
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

# Column lengths (see siecle.py): names that do not fit are rejected, labels cut.
NAME_MAX = Pupil.family_name.type.length
NAME_KEY_MAX = Pupil.name_key.type.length
LEVEL_MAX = Pupil.level_label.type.length
CLASS_MAX = Pupil.division.type.length
PERSON_NAME_MAX = Representative.birth_name.type.length
EMAIL_MAX = Representative.email.type.length
IDENTITY_KEY_MAX = ParentIdentity.key.type.length
# A row's reference shows its names whole when they fit their columns, and no more than
# that; the importer finds the pupil or person of a rejected row by its key, not by this.
REF_MAX = 2 * max(NAME_MAX, PERSON_NAME_MAX) + 1


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
        with open_text(path, encoding) as fh:
            return next(csv.reader(fh, delimiter=";"), [])
    except csv.Error as exc:
        raise FileRejected(f"{path}: not an ONDE extraction: {exc}") from exc


def _not_csv(path) -> FileRejected | None:
    """Refuse, saying what they are, the files people give for ONDE extractions."""
    name = str(path)
    if is_zip(path):
        return FileRejected(
            f"{name}: not an ONDE extraction: a ZIP archive (or an Excel .xlsx workbook); "
            "give the CSV file ONDE exports (CSVExtraction.csv)"
        )
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return FileRejected(f"{name}: not an ONDE extraction: an XML file (a SIECLE export? "
                            "import it with --format siecle)")
    return None


def sniff(path, encoding: str | None = None) -> str:
    """Return the kind of an ONDE file (eleves or responsables) from its header."""
    name = str(path)
    refused = _not_csv(path)
    if refused:
        raise refused
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
        refused = _not_csv(self.path)
        if refused:
            raise refused
        self.encoding = text_encoding(self.path)
        self.kind = sniff(self.path, self.encoding)
        self.size = os.path.getsize(self.path)
        self.position = 0

    def records(self) -> Iterator:
        """Yield records and Problems in file order."""
        header = _read_header(self.path, self.encoding)
        with open_text(self.path, self.encoding) as fh:
            reader = csv.reader(fh, delimiter=";")
            next(reader, None)
            try:
                if self.kind == "eleves":
                    yield from self._pupils(self._rows(reader, fh.buffer), header)
                else:
                    yield from self._people(self._rows(reader, fh.buffer), header)
            except csv.Error as exc:
                raise FileRejected(
                    f"{self.name}: unreadable CSV at line {reader.line_num}: {exc}"
                ) from exc
        self.position = self.size

    def _rows(self, reader, raw) -> Iterator[tuple[int, list[str]]]:
        """Yield (line where the row starts, cells) for the non-blank rows.

        A cell with a line break is a quote left open: the csv module has read the
        following lines into it, and the pupils or parents on them would be lost (and
        pupils marked as left). ONDE never writes line breaks in cells: refuse the file.
        """
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            self.position = raw.tell()
            if not any(cell.strip() for cell in row):
                continue
            broken = next((i for i, cell in enumerate(row) if "\n" in cell or "\r" in cell),
                          None)
            if broken is not None:
                cell = row[broken].split("\n")[0].strip()
                raise FileRejected(
                    f"{self.name}: line {start}: cell {broken + 1} starts with a quote (\") "
                    f"that is not closed on that line ({cell[:40]!r}...): lines {start} to "
                    f"{end} were read as one row, and the pupils or representatives on "
                    "them would be lost. Remove the quote or close it, then import the file "
                    "again"
                )
            yield start, row

    def _pupils(self, rows, header) -> Iterator:
        pos = _positions(header, PUPIL_COLUMNS)
        columns = _filled(header)
        for line, row in rows:
            # A ';' inside a value or a missing one shifts the cells: the row would give
            # a class for a level, a date for an INE. Trailing empty cells are harmless.
            if _filled(row) > len(header) or len(row) < columns:
                # The names may be shifted too; still taken as the row's, so that a stray
                # ';' does not mark the pupil they name as having left.
                key = _row_key(_cell(row, pos, "family_name"), _cell(row, pos, "given_name"))
                yield Problem(line, _pupil_ref(row, pos), (
                    f"{len(row)} cells for the {columns} columns of the header (a ';' "
                    "inside a value, or a missing one?): row ignored"
                ), key=key)
                continue
            yield from self._pupil(row, pos, line)

    def _pupil(self, row, pos, line) -> Iterator:
        family = normalise.clean_name(_cell(row, pos, "family_name"))
        given = normalise.clean_name(_cell(row, pos, "given_name"))
        ref = _pupil_ref(row, pos)
        # Whatever else is wrong, the row names this pupil: the importer keeps them.
        key = _row_key(family, given)
        try:
            ine = codes.check_ine(_cell(row, pos, "ine"))
        except ValueError as exc:
            yield Problem(line, ref, str(exc), key=key)
            return
        if not family or not given:
            yield Problem(line, ref, "Nom élève and Prénom élève are required", key=key)
            return
        try:
            birthdate = normalise.parse_date(_cell(row, pos, "birthdate"))
            entry = normalise.parse_date(_cell(row, pos, "entry_date"))
        except ValueError as exc:
            yield Problem(line, ref, str(exc), key=key)
            return
        if birthdate is None:
            yield Problem(line, ref, "Date naissance missing", key=key)
            return
        usage = normalise.clean_name(_cell(row, pos, "usage_name"))
        reason = normalise.first_too_long(
            {"Nom élève": family, "Nom d'usage élève": usage, "Prénom élève": given}, NAME_MAX
        ) or normalise.key_too_long(
            "Nom élève and Prénom élève", normalise.pupil_key(family, given), NAME_KEY_MAX
        )
        if reason:
            yield Problem(line, ref, reason, key=key)
            return
        ref = f"INE {ine}"
        # Classes and levels are labels a school types in (`CE2 - CM1 - Mme X et M. Y
        # (décloisonnement)`): cut with a warning rather than lose the pupil.
        level, warning = normalise.fit_label(
            "Niveau", normalise.clean_name(_cell(row, pos, "level")) or None, LEVEL_MAX
        )
        if warning:
            yield Problem(line, ref, warning, rejected=False)
        division, warning = normalise.fit_label(
            "Libellé classe", normalise.clean_name(_cell(row, pos, "class_label")) or None,
            CLASS_MAX,
        )
        if warning:
            yield Problem(line, ref, warning, rejected=False)
        yield PupilRecord(
            line=line, ref=ref, ine=ine, source_id=None, family_name=family,
            usage_name=usage if usage and usage != family else None, given_name=given,
            birthdate=birthdate, sex=normalise.sex(_cell(row, pos, "sex")), mef=None,
            level_label=level, division=division, entry_date=entry, exit_date=None,
        )

    def _people(self, rows, header) -> Iterator:
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
        # A representative without mobile or e-mail is known by names alone, as in every
        # earlier import, so that a parent who moves or whose children change keeps the
        # record (and the account made on it) from one year to the next. Only namesakes
        # of one file (two `M. MARTIN Jean` at different addresses) are told apart, by
        # their address, else their children: the whole file is read first to find them.
        apart: dict[int, str] = {}
        items = [item for line, row in rows
                 for item in self._person(row, pos, group, width, child_start, line, apart)]
        variants: dict[str, set[str]] = {}
        for item in items:
            if isinstance(item, PersonRecord) and item.line in apart:
                variants.setdefault(item.source_id, set()).add(apart[item.line])
        namesakes = {plain for plain, parts in variants.items() if len(parts) > 1}
        for item in items:
            if isinstance(item, PersonRecord | LinkRecord) and item.line in apart:
                plain = item.source_id if isinstance(item, PersonRecord) \
                    else item.person_source_id
                if plain in namesakes:
                    told_apart = _digest(f"{plain}|{apart[item.line]}")
                    if isinstance(item, PersonRecord):
                        item.source_id = told_apart
                    else:
                        item.person_source_id = told_apart
            yield item

    def _person(self, row, pos, group, width, child_start, line, apart) -> Iterator:
        birth = normalise.clean_name(_cell(row, pos, "birth_name"))
        given = normalise.clean_name(_cell(row, pos, "given_name"))
        ref = f"{birth} {given}".strip()[:REF_MAX] or "?"
        # Whatever else is wrong, the row names this person: the importer keeps them.
        key = _row_key(birth, given)
        if not birth or not given:
            yield Problem(line, ref, "Nom responsable and Prénom responsable are required",
                          key=key)
            return
        usage = normalise.clean_name(_cell(row, pos, "usage_name"))
        reason = normalise.first_too_long(
            {"Nom responsable": birth, "Nom usage responsable": usage,
             "Prénom responsable": given}, PERSON_NAME_MAX)
        if reason:
            yield Problem(line, ref, reason, key=key)
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
        if mobile is None:
            home = normalise.phone_e164(_cell(row, pos, "home_phone"))
            mobile = home if normalise.is_mobile(home) else None
        reason = normalise.key_too_long(
            "Nom responsable, Prénom responsable and mobile",
            family.identity_key(birth, given, mobile) or "", IDENTITY_KEY_MAX,
        )
        if reason:
            yield Problem(line, ref, reason, key=key)
            return
        if written and normalise.phone_e164(written) is None:
            yield Problem(line, ref, f"Téléphone portable {written!r} is not a phone number: "
                          "imported without a mobile", rejected=False)
        email = _cell(row, pos, "email")
        children = []
        for start in range(child_start, len(row), width):
            cells = row[start:start + width]
            child = {f: (cells[i].strip() if i < len(cells) else "") for f, i in group.items()}
            if child.get("given_name") and (child.get("family_name") or child.get("usage_name")):
                children.append(child)
        digest = person_digest(birth, given, mobile, email)
        if not (mobile or email):
            apart[line] = namesake_part(
                [_cell(row, pos, f) for f in ("address", "postcode", "city")],
                [(c.get("family_name", ""), c.get("usage_name", ""), c["given_name"])
                 for c in children],
            )
        stored_email = email if "@" in email else None
        # Not cut (a cut address is someone else's): the person is kept without it.
        reason = normalise.too_long("Courriel", stored_email, EMAIL_MAX)
        if reason:
            yield Problem(line, ref, f"{reason}: imported without an e-mail", rejected=False)
            stored_email = None
        yield PersonRecord(
            line=line, ref=ref, source_id=digest,
            civility=normalise.civility(_cell(row, pos, "civility")), birth_name=birth,
            usage_name=usage if usage and usage != birth else None, given_name=given,
            mobile=mobile, email=stored_email, sms_consent=None,
        )
        for child in children:
            yield LinkRecord(
                line=line, ref=f"{ref} -> {child.get('family_name')} {child['given_name']}",
                person_source_id=digest, legal_level=level,
                pupil_names=(child.get("family_name", ""), child.get("usage_name", ""),
                             child["given_name"]),
            )


def person_digest(birth_name: str, given_name: str, mobile: str | None, email: str) -> str:
    """The id of a representative within a school's ONDE file, which gives none.

    Rows that give the same names and the same mobile (else e-mail) are one person,
    listed again; without either, the names alone, unless the file lists namesakes (see
    `namesake_part`). These keys are those of the first version of the rule, so that
    stored representative records, and the accounts made on them, are kept.
    """
    key = f"{normalise.name_key(birth_name)}|{normalise.name_key(given_name)}|"
    return _digest(key + (mobile or email or ""))


def namesake_part(address: list[str], children: list[tuple[str, str, str]]) -> str:
    """What tells apart namesakes without mobile or e-mail in one file: their address
    (without case, accents, spaces or punctuation), else the children they list."""
    if any(part.strip() for part in address):
        return "address:" + "|".join(normalise.name_key(part) for part in address)
    return "children:" + ";".join(sorted(
        "|".join(normalise.name_key(name) for name in child) for child in children
    ))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _row_key(family_name: str, given_name: str) -> tuple[str] | None:
    """The key of a rejected row (see `Problem.key`): its names' `pupil_key`, the key the
    directory stores and matches pupils and people on; None when the row gives no name."""
    if not (normalise.name_key(family_name) or normalise.name_key(given_name)):
        return None
    return (normalise.pupil_key(family_name, given_name),)


def _pupil_ref(row: list[str], pos: dict) -> str:
    family = normalise.clean_name(_cell(row, pos, "family_name"))
    given = normalise.clean_name(_cell(row, pos, "given_name"))
    return f"{family} {given}".strip()[:REF_MAX] or "?"


def _filled(cells: list[str]) -> int:
    """The number of cells up to the last non-empty one."""
    count = len(cells)
    while count and not cells[count - 1].strip():
        count -= 1
    return count

