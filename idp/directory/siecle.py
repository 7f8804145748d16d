"""Streaming reader of SIECLE XML exports (ElevesSansAdresses, Responsables, Nomenclature).

The files can hold a whole académie. They are parsed by the expat parser that
`defusedxml` builds and guards (no DTD, no entity declarations: no XML bombs, no external
fetches), in chunks, with light handlers that turn each record element (ELEVE,
PERSONNE...) into a flat dict as soon as it ends and keep nothing else: memory stays flat
whatever the file size, and no element tree is built, which is several times faster
than a tree built and cleared element by element. Field-level problems become `Problem`
rows; a file that is not XML, not SIECLE, or not well-formed is refused as a whole with
`FileRejected`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import TreeBuilder
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import iterparse

from idp.directory import codes
from idp.directory import family
from idp.directory import normalise
from idp.directory.models import Mef
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import School
from idp.directory.records import DivisionRecord
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.records import LinkRecord
from idp.directory.records import MefRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from idp.directory.textio import XmlEncoding
from idp.directory.textio import open_xml
from idp.directory.textio import xml_encoding

KINDS = {
    "BEE_ELEVES": "eleves",
    "BEE_RESPONSABLES": "responsables",
    "BEE_NOMENCLATURES": "nomenclature",
}
EXPECTED = ", ".join(f"<{root}>" for root in KINDS)

# Records sit at depth 4: BEE_ELEVES / DONNEES / ELEVES / ELEVE; PARAMETRES at depth 2.
RECORD_DEPTH = 4
HEADER = "PARAMETRES"
CHUNK = 1 << 16


def _length(column) -> int:
    return column.type.length


# Column lengths, checked here so that PostgreSQL (which enforces them) and SQLite
# (which does not) import the same rows: codes, identifiers and names that do not fit
# are never cut; labels are cut at a word boundary with a warning.
ELEVE_ID_MAX = _length(Pupil.source_id)
NAME_MAX = _length(Pupil.family_name)
PERSON_NAME_MAX = _length(Representative.birth_name)
NAME_KEY_MAX = _length(Pupil.name_key)
MEF_MAX = _length(Pupil.mef)
DIVISION_MAX = _length(Pupil.division)
SCHOOL_NAME_MAX = _length(School.name)
# The importer stores representatives under "siecle:<UAI>:<PERSONNE_ID>".
PERSONNE_ID_MAX = _length(Representative.source_key) - len("siecle:00000000:")
EMAIL_MAX = _length(Representative.email)
IDENTITY_KEY_MAX = _length(ParentIdentity.key)
MEF_CODE_MAX = _length(Mef.code)
MEFSTAT_MAX = _length(Mef.mefstat11)
MEF_LABEL_MAX = _length(Mef.label)


class _Collector:
    """Expat content handlers that turn record elements into (tag, attrs, fields, line).

    `fields` maps each child's tag to its text; a child with children of its own
    (SCOLARITE_AN_DERNIER, STRUCTURE) maps to a list of such dicts, one per occurrence.
    Deeper elements are ignored. These run for every element: kept minimal.
    """

    def __init__(self, expat, wanted: set[str]):
        self.expat = expat
        self.wanted = wanted
        self.depth = 0
        self.done: list = []
        self.base = 0  # depth of the record being read, 0 when none
        self.tag = ""
        self.attrs: dict = {}
        self.line = 0
        self.fields: dict | None = None
        self.group: dict | None = None
        self.child = ""
        self.text: list | None = None

    def start(self, tag, attrs):
        """An element starts: a record, a field of one, or something to skip."""
        depth = self.depth = self.depth + 1
        base = self.base
        if base:
            if depth == base + 1:
                self.child, self.group, self.text = tag, None, []
            elif depth == base + 2:
                if self.group is None:
                    self.group = {}
                    self.fields.setdefault(self.child, []).append(self.group)
                self.text = []
            else:
                self.text = None
        elif (depth == RECORD_DEPTH and tag in self.wanted) or (depth == 2 and tag == HEADER):
            self.base, self.tag, self.fields = depth, tag, {}
            self.attrs = dict(zip(attrs[::2], attrs[1::2], strict=True)) if attrs else {}
            self.line = self.expat.CurrentLineNumber

    def data(self, text):
        """Text of the field being read, if any."""
        if self.text is not None:
            self.text.append(text)

    def end(self, tag):
        """An element ends: store a field's text, or hand over a complete record."""
        depth = self.depth
        self.depth = depth - 1
        base = self.base
        if not base:
            return
        if depth == base:
            self.done.append((self.tag, self.attrs, self.fields, self.line))
            self.base, self.fields, self.text = 0, None, None
        elif depth == base + 1:
            if self.group is None and self.text is not None:
                self.fields[tag] = "".join(self.text).strip()
            self.text = None
        elif depth == base + 2 and self.text is not None:
            self.group[tag] = "".join(self.text).strip()
            self.text = None


def _parser(wanted: set[str] = frozenset(), encoding: str | None = None):
    """A defusedxml parser (DTDs, entities and external references refused) and the
    collector of the `wanted` records plugged into its expat object in place of the
    tree builder. `encoding` overrides the file's declaration (see textio.open_xml)."""
    defused = DefusedXMLParser(target=TreeBuilder(), encoding=encoding, forbid_dtd=True,
                               forbid_entities=True, forbid_external=True)
    expat = defused.parser
    collector = _Collector(expat, wanted)
    expat.StartElementHandler = collector.start
    expat.EndElementHandler = collector.end
    expat.CharacterDataHandler = collector.data
    return expat, collector


def _refuse(name: str, exc: Exception) -> FileRejected:
    if isinstance(exc, DefusedXmlException):
        return FileRejected(
            f"{name}: refused: the file declares a DTD or entities, which SIECLE exports "
            "never do (protection against XML attacks)"
        )
    line, column = getattr(exc, "position", None) or (getattr(exc, "lineno", 0),
                                                      getattr(exc, "offset", 0))
    return FileRejected(f"{name}: not well-formed XML (line {line}, column {column}): "
                        f"{str(exc).split(':')[0]}")


def _not_xml(name: str, head: bytes) -> FileRejected | None:
    """Refuse a file that is not XML at all, saying what it looks like."""
    text = head.lstrip()
    if not text:
        return FileRejected(f"{name}: empty file")
    if text.startswith(b"<"):
        return None
    first_line = text.split(b"\n", 1)[0]
    if b";" in first_line:
        return FileRejected(
            f"{name}: not an XML file: it looks like a ';'-separated CSV file. ONDE "
            "extractions are imported with --format onde (and --uai); SIECLE exports are "
            "XML files (ElevesSansAdresses.xml...)"
        )
    return FileRejected(f"{name}: not an XML file (it does not start with '<'): SIECLE "
                        "exports are XML files (ElevesSansAdresses.xml...) or ZIP archives "
                        "of one")


def sniff(path, encoding: XmlEncoding | None = None) -> str:
    """Return the kind of a SIECLE file (eleves, responsables, nomenclature) from its root."""
    name = str(path)
    encoding = encoding or xml_encoding(path)
    if encoding.encoding:  # the reader gives UTF-8 (not UTF-16, left to expat)
        source = open_xml(path, encoding)
        try:
            refused = _not_xml(name, source.read(CHUNK))
        finally:
            source.close()
        if refused:
            raise refused
    source = open_xml(path, encoding)
    try:
        parser = DefusedXMLParser(target=TreeBuilder(), encoding=encoding.parser_encoding,
                                  forbid_dtd=True)
        for _, elem in iterparse(source, events=("start",), parser=parser):
            root = elem.tag
            break
        else:
            raise FileRejected(f"{name}: empty file")
    except (ParseError, DefusedXmlException) as exc:
        raise _refuse(name, exc) from exc
    finally:
        source.close()
    if root not in KINDS:
        raise FileRejected(
            f"{name}: not a SIECLE export: root element <{root}>, expected one of {EXPECTED}"
        )
    return KINDS[root]


def _first(fields: dict, name: str) -> dict:
    group = fields.get(name)
    return group[0] if isinstance(group, list) and group else {}


def _header(fields: dict) -> Header:
    year = fields.get("ANNEE_SCOLAIRE", "")
    return Header(uai=fields.get("UAJ") or None, year=int(year) if year.isdigit() else None)


def _shown(value: str) -> str:
    """An id as shown in a problem's reference: whole up to the longest id stored, an
    absurdly long one abridged (the importer reads a rejected row's ids from its key)."""
    return value if len(value) <= PERSONNE_ID_MAX else value[:PERSONNE_ID_MAX - 3] + "..."


def _pupil(attrs: dict, f: dict, line: int):
    source_id = attrs.get("ELEVE_ID") or ""
    ref = f"ELEVE ELEVE_ID={_shown(source_id) or '?'}"
    if not source_id:
        return Problem(line, ref, "ELEVE_ID missing")
    # Whatever else is wrong, the row names this pupil: the importer keeps them as they are.
    key = (source_id,)
    reason = normalise.too_long("ELEVE_ID", source_id, ELEVE_ID_MAX)
    if reason:
        return Problem(line, ref, reason, key=key)
    try:
        ine = codes.check_ine(f.get("ID_NATIONAL") or f.get("INE_BEA"))
    except ValueError as exc:
        return Problem(line, ref, str(exc), key=key)
    family = normalise.clean_name(f.get("NOM_DE_FAMILLE") or f.get("NOM"))
    given = normalise.clean_name(f.get("PRENOM"))
    if not family or not given:
        return Problem(line, ref, "NOM and PRENOM are required", key=key)
    usage = normalise.clean_name(f.get("NOM_USAGE"))
    reason = normalise.first_too_long(
        {"NOM_DE_FAMILLE": family, "NOM_USAGE": usage, "PRENOM": given}, NAME_MAX
    ) or normalise.key_too_long(
        "NOM_DE_FAMILLE and PRENOM", normalise.pupil_key(family, given), NAME_KEY_MAX
    )
    if reason:
        return Problem(line, ref, reason, key=key)
    try:
        birthdate = normalise.parse_date(f.get("DATE_NAISS"))
        entry = normalise.parse_date(f.get("DATE_ENTREE"))
        exit_ = normalise.parse_date(f.get("DATE_SORTIE"))
    except ValueError as exc:
        return Problem(line, ref, str(exc), key=key)
    if birthdate is None:
        return Problem(line, ref, "DATE_NAISS missing", key=key)
    warnings = []
    # A MEF that cannot be one is not stored, and not cut (a cut code is another MEF);
    # the pupil is kept, without a level, rather than rejected and so marked as left.
    mef = codes.normalise_code(f.get("CODE_MEF")) or None
    reason = normalise.too_long("CODE_MEF", mef, MEF_MAX)
    if reason:
        warnings.append(Problem(line, ref, f"{reason}: imported without a MEF",
                                rejected=False))
        mef = None
    previous = None
    p = _first(f, "SCOLARITE_AN_DERNIER")
    if p:
        uai = codes.normalise_code(p.get("CODE_RNE"))
        name = normalise.clean_name(f"{p.get('DENOM_PRINC', '')} {p.get('DENOM_COMPL', '')}")
        if name and codes.is_valid_uai(uai):
            name, warning = normalise.fit_label("DENOM_PRINC DENOM_COMPL", name,
                                                SCHOOL_NAME_MAX)
            if warning:
                warnings.append(Problem(line, ref, warning, rejected=False))
            previous = (uai, name)
    record = PupilRecord(
        line=line, ref=ref, ine=ine, source_id=source_id, family_name=family,
        usage_name=usage if usage and usage != family else None, given_name=given,
        birthdate=birthdate, sex=normalise.sex(f.get("CODE_SEXE")),
        mef=mef, level_label=None, division=None,
        entry_date=entry, exit_date=exit_, previous_school=previous,
    )
    return (*warnings, record) if warnings else record


def _division(attrs: dict, f: dict, line: int) -> DivisionRecord | Problem:
    source_id = attrs.get("ELEVE_ID") or ""
    if not source_id:
        return Problem(line, "STRUCTURES_ELEVE", "ELEVE_ID missing")
    division = None
    for s in f.get("STRUCTURE") or ():
        if isinstance(s, dict) and s.get("TYPE_STRUCTURE") == "D" and s.get("CODE_STRUCTURE"):
            division = normalise.clean_name(s["CODE_STRUCTURE"])
            break
    # A class is a label: better cut (with a warning) than lose the pupil's class.
    division, warning = normalise.fit_label("CODE_STRUCTURE", division, DIVISION_MAX)
    record = DivisionRecord(line=line, source_id=source_id, division=division)
    if warning:
        ref = f"STRUCTURES_ELEVE ELEVE_ID={_shown(source_id)}"
        return Problem(line, ref, warning, rejected=False), record
    return record


def _person(attrs: dict, f: dict, line: int):
    source_id = attrs.get("PERSONNE_ID") or ""
    ref = f"PERSONNE PERSONNE_ID={_shown(source_id) or '?'}"
    if not source_id:
        return Problem(line, ref, "PERSONNE_ID missing")
    # Whatever else is wrong, the row names this person: the importer keeps their record.
    key = (source_id,)
    reason = normalise.too_long("PERSONNE_ID", source_id, PERSONNE_ID_MAX)
    if reason:
        return Problem(line, ref, reason, key=key)
    birth = normalise.clean_name(f.get("NOM_DE_FAMILLE") or f.get("NOM"))
    given = normalise.clean_name(f.get("PRENOM"))
    if not birth or not given:
        return Problem(line, ref, "NOM and PRENOM are required", key=key)
    usage = normalise.clean_name(f.get("NOM_USAGE"))
    reason = normalise.first_too_long(
        {"NOM_DE_FAMILLE": birth, "NOM_USAGE": usage, "PRENOM": given}, PERSON_NAME_MAX
    )
    if reason:
        return Problem(line, ref, reason, key=key)
    # Parents often give their mobile as their personal number; use it when it is one.
    written = f.get("TEL_PORTABLE") or ""
    mobile = normalise.phone_e164(written)
    if mobile is None:
        personal = normalise.phone_e164(f.get("TEL_PERSONNEL"))
        mobile = personal if normalise.is_mobile(personal) else None
    reason = normalise.key_too_long(
        "NOM_DE_FAMILLE, PRENOM and mobile",
        family.identity_key(birth, given, mobile) or "", IDENTITY_KEY_MAX,
    )
    if reason:
        return Problem(line, ref, reason, key=key)
    warnings = []
    if written and mobile is None:
        warnings.append(Problem(line, ref, f"TEL_PORTABLE {written!r} is not a phone number: "
                                "imported without a mobile", rejected=False))
    email = (f.get("MEL") or "").strip() or None
    # An address that does not fit is not one (RFC 5321 allows 254 characters): it is
    # not cut, which would give someone else's address; the person is kept without it.
    reason = normalise.too_long("MEL", email, EMAIL_MAX)
    if reason:
        warnings.append(Problem(line, ref, f"{reason}: imported without an e-mail",
                                rejected=False))
        email = None
    record = PersonRecord(
        line=line, ref=ref, source_id=source_id,
        civility=normalise.civility(f.get("LC_CIVILITE") or f.get("LL_CIVILITE")),
        birth_name=birth, usage_name=usage if usage and usage != birth else None,
        given_name=given, mobile=mobile, email=email if email and "@" in email else None,
        sms_consent=normalise.yes_no(f.get("ACCEPTE_SMS")),
    )
    return (*warnings, record) if warnings else record


def _link(attrs: dict, f: dict, line: int) -> LinkRecord | Problem | None:
    ref = (f"RESPONSABLE_ELEVE ELEVE_ID={_shown(f.get('ELEVE_ID') or '?')} "
           f"PERSONNE_ID={_shown(f.get('PERSONNE_ID') or '?')}")
    level = f.get("RESP_LEGAL", "")
    if level in ("", "0"):
        return None  # a contact, not a legal representative: never linked
    if level not in ("1", "2"):
        # A row naming both ends still names the link: the importer keeps it as it is.
        key = (f["PERSONNE_ID"], f["ELEVE_ID"]) \
            if f.get("PERSONNE_ID") and f.get("ELEVE_ID") else None
        return Problem(line, ref, f"RESP_LEGAL {level!r}: 1 or 2 expected", key=key)
    if not f.get("ELEVE_ID") or not f.get("PERSONNE_ID"):
        return Problem(line, ref, "ELEVE_ID and PERSONNE_ID are required")
    return LinkRecord(line=line, ref=ref, person_source_id=f["PERSONNE_ID"],
                      pupil_source_id=f["ELEVE_ID"], legal_level=int(level))


def _mef(attrs: dict, f: dict, line: int) -> MefRecord | Problem:
    code = codes.normalise_code(attrs.get("CODE_MEF"))
    if not code:
        return Problem(line, "MEF", "CODE_MEF missing")
    ref = f"MEF CODE_MEF={_shown(code)}"
    mefstat11 = f.get("CODE_MEFSTAT") or None
    reason = (normalise.too_long("CODE_MEF", code, MEF_CODE_MAX)
              or normalise.too_long("CODE_MEFSTAT", mefstat11, MEFSTAT_MAX))
    if reason:
        return Problem(line, ref, reason)
    label = normalise.clean_name(f.get("FORMATION") or f.get("LIBELLE_LONG"))
    label, warning = normalise.fit_label("FORMATION", label, MEF_LABEL_MAX)
    record = MefRecord(line=line, code=code, mefstat11=mefstat11, label=label)
    return (Problem(line, ref, warning, rejected=False), record) if warning else record


_RECORDS = {
    "eleves": {"ELEVE": _pupil, "STRUCTURES_ELEVE": _division},
    "responsables": {"PERSONNE": _person, "RESPONSABLE_ELEVE": _link},
    "nomenclature": {"MEF": _mef},
}


class SiecleFile:
    """One SIECLE export, its kind read from its root element."""

    def __init__(self, path):
        self.path = str(path)
        self.name = self.path
        # Read once here (the whole file), then used by sniff and records.
        self.encoding = xml_encoding(self.path)
        self.kind = sniff(self.path, self.encoding)
        self.size = os.path.getsize(self.path)
        self.position = 0

    def records(self) -> Iterator:
        """Yield the Header, then records and Problems in file order."""
        handlers = _RECORDS[self.kind]
        source = open_xml(self.path, self.encoding)
        expat, collector = _parser(set(handlers), self.encoding.parser_encoding)
        header_seen = False
        try:
            while True:
                chunk = source.read(CHUNK)
                expat.Parse(chunk, not chunk)
                self.position = source.position
                done, collector.done = collector.done, []
                for tag, attrs, fields, line in done:
                    if tag == HEADER:
                        if not header_seen:
                            header_seen = True
                            yield _header(fields)
                        continue
                    handler = handlers[tag]
                    if not header_seen and self.kind != "nomenclature":
                        raise FileRejected(f"{self.name}: no PARAMETRES/UAJ before the data")
                    record = handler(attrs, fields, line)
                    if isinstance(record, tuple):
                        yield from record
                    elif record is not None:
                        yield record
                if not chunk:
                    break
        except (ExpatError, DefusedXmlException) as exc:
            raise _refuse(self.name, exc) from exc
        finally:
            source.close()
        self.position = self.size
