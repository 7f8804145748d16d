"""Streaming reader of SIECLE XML exports (ElevesSansAdresses, Responsables, Nomenclature).

The files can hold a whole académie: they are read with `defusedxml`'s iterparse (no
DTD, no entities: no XML bombs, no external fetches), and each record element is
detached from the tree as soon as it is complete, so memory stays flat whatever the
file size. Field-level problems become `Problem` rows; a file that is not XML, not
SIECLE, or not well-formed is refused as a whole with `FileRejected`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from xml.etree.ElementTree import ParseError
from xml.etree.ElementTree import TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import iterparse

from idp.directory import codes
from idp.directory import normalise
from idp.directory.records import DivisionRecord
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.records import LinkRecord
from idp.directory.records import MefRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from idp.directory.textio import open_xml

KINDS = {
    "BEE_ELEVES": "eleves",
    "BEE_RESPONSABLES": "responsables",
    "BEE_NOMENCLATURES": "nomenclature",
}
EXPECTED = ", ".join(f"<{root}>" for root in KINDS)

# Records sit at depth 4: BEE_ELEVES / DONNEES / ELEVES / ELEVE.
RECORD_DEPTH = 4
_LINE = "\x00line"  # not a valid XML attribute name, so no file can collide with it


class _RecordParser(DefusedXMLParser):
    """Stamps record elements with their line and detaches each one once complete."""

    def __init__(self):
        super().__init__(target=TreeBuilder(), forbid_dtd=True, forbid_entities=True,
                         forbid_external=True)
        self._open = []
        self._depth = 0

    def _start(self, tag, attr_list):
        elem = super()._start(tag, attr_list)
        self._depth += 1
        if self._depth <= RECORD_DEPTH:
            if self._depth == RECORD_DEPTH:
                elem.set(_LINE, self.parser.CurrentLineNumber)
            self._open.append(elem)
        return elem

    def _end(self, tag):
        elem = super()._end(tag)
        depth = self._depth
        self._depth = depth - 1
        if depth <= RECORD_DEPTH:
            self._open.pop()
            if depth == RECORD_DEPTH:
                # The consumer still holds it through the event queue; the tree no longer.
                self._open[-1].remove(elem)
        return elem


def _refuse(name: str, exc: Exception) -> FileRejected:
    if isinstance(exc, DefusedXmlException):
        return FileRejected(
            f"{name}: refused: the file declares a DTD or entities, which SIECLE exports "
            "never do (protection against XML attacks)"
        )
    line, column = getattr(exc, "position", (0, 0))
    return FileRejected(f"{name}: not well-formed XML (line {line}, column {column}): "
                        f"{str(exc).split(':')[0]}")


def sniff(path) -> str:
    """Return the kind of a SIECLE file (eleves, responsables, nomenclature) from its root."""
    name = os.path.basename(path)
    source = open_xml(path)
    try:
        parser = DefusedXMLParser(target=TreeBuilder(), forbid_dtd=True)
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


def _fields(elem) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in elem}


def _header(elem) -> Header:
    fields = _fields(elem)
    year = fields.get("ANNEE_SCOLAIRE", "")
    return Header(uai=fields.get("UAJ") or None, year=int(year) if year.isdigit() else None)


def _pupil(elem, line: int) -> PupilRecord | Problem:
    source_id = elem.get("ELEVE_ID") or ""
    ref = f"ELEVE ELEVE_ID={source_id or '?'}"
    f = _fields(elem)
    if not source_id:
        return Problem(line, ref, "ELEVE_ID missing")
    try:
        ine = codes.check_ine(f.get("ID_NATIONAL") or f.get("INE_BEA"))
    except ValueError as exc:
        return Problem(line, ref, str(exc))
    family = normalise.clean_name(f.get("NOM_DE_FAMILLE") or f.get("NOM"))
    given = normalise.clean_name(f.get("PRENOM"))
    if not family or not given:
        return Problem(line, ref, "NOM and PRENOM are required")
    usage = normalise.clean_name(f.get("NOM_USAGE"))
    try:
        birthdate = normalise.parse_date(f.get("DATE_NAISS"))
        entry = normalise.parse_date(f.get("DATE_ENTREE"))
        exit_ = normalise.parse_date(f.get("DATE_SORTIE"))
    except ValueError as exc:
        return Problem(line, ref, str(exc))
    if birthdate is None:
        return Problem(line, ref, "DATE_NAISS missing")
    previous = None
    before = elem.find("SCOLARITE_AN_DERNIER")
    if before is not None:
        p = _fields(before)
        uai = codes.normalise_code(p.get("CODE_RNE"))
        name = normalise.clean_name(f"{p.get('DENOM_PRINC', '')} {p.get('DENOM_COMPL', '')}")
        if name and codes.is_valid_uai(uai):
            previous = (uai, name)
    return PupilRecord(
        line=line, ref=ref, ine=ine, source_id=source_id, family_name=family,
        usage_name=usage if usage and usage != family else None, given_name=given,
        birthdate=birthdate, sex=normalise.sex(f.get("CODE_SEXE")),
        mef=codes.normalise_code(f.get("CODE_MEF")) or None, level_label=None, division=None,
        entry_date=entry, exit_date=exit_, previous_school=previous,
    )


def _division(elem, line: int) -> DivisionRecord | Problem:
    source_id = elem.get("ELEVE_ID") or ""
    if not source_id:
        return Problem(line, "STRUCTURES_ELEVE", "ELEVE_ID missing")
    division = None
    for structure in elem.iter("STRUCTURE"):
        s = _fields(structure)
        if s.get("TYPE_STRUCTURE") == "D" and s.get("CODE_STRUCTURE"):
            division = normalise.clean_name(s["CODE_STRUCTURE"])
            break
    return DivisionRecord(line=line, source_id=source_id, division=division)


def _person(elem, line: int) -> PersonRecord | Problem:
    source_id = elem.get("PERSONNE_ID") or ""
    ref = f"PERSONNE PERSONNE_ID={source_id or '?'}"
    f = _fields(elem)
    if not source_id:
        return Problem(line, ref, "PERSONNE_ID missing")
    birth = normalise.clean_name(f.get("NOM_DE_FAMILLE") or f.get("NOM"))
    given = normalise.clean_name(f.get("PRENOM"))
    if not birth or not given:
        return Problem(line, ref, "NOM and PRENOM are required")
    usage = normalise.clean_name(f.get("NOM_USAGE"))
    # Parents often give their mobile as their personal number; use it when it is one.
    mobile = normalise.phone_e164(f.get("TEL_PORTABLE"))
    if mobile is None:
        personal = normalise.phone_e164(f.get("TEL_PERSONNEL"))
        mobile = personal if normalise.is_mobile(personal) else None
    email = (f.get("MEL") or "").strip() or None
    return PersonRecord(
        line=line, ref=ref, source_id=source_id,
        civility=normalise.civility(f.get("LC_CIVILITE") or f.get("LL_CIVILITE")),
        birth_name=birth, usage_name=usage if usage and usage != birth else None,
        given_name=given, mobile=mobile, email=email if email and "@" in email else None,
        sms_consent=normalise.yes_no(f.get("ACCEPTE_SMS")),
    )


def _link(elem, line: int) -> LinkRecord | Problem | None:
    f = _fields(elem)
    ref = f"RESPONSABLE_ELEVE ELEVE_ID={f.get('ELEVE_ID') or '?'} " \
          f"PERSONNE_ID={f.get('PERSONNE_ID') or '?'}"
    level = f.get("RESP_LEGAL", "")
    if level in ("", "0"):
        return None  # a contact, not a legal representative: never linked
    if level not in ("1", "2"):
        return Problem(line, ref, f"RESP_LEGAL {level!r}: 1 or 2 expected")
    if not f.get("ELEVE_ID") or not f.get("PERSONNE_ID"):
        return Problem(line, ref, "ELEVE_ID and PERSONNE_ID are required")
    return LinkRecord(line=line, ref=ref, person_source_id=f["PERSONNE_ID"],
                      pupil_source_id=f["ELEVE_ID"], legal_level=int(level))


def _mef(elem, line: int) -> MefRecord | Problem:
    code = codes.normalise_code(elem.get("CODE_MEF"))
    if not code:
        return Problem(line, "MEF", "CODE_MEF missing")
    f = _fields(elem)
    label = normalise.clean_name(f.get("FORMATION") or f.get("LIBELLE_LONG"))
    return MefRecord(line=line, code=code, mefstat11=f.get("CODE_MEFSTAT") or None, label=label)


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
        self.kind = sniff(self.path)
        self.size = os.path.getsize(self.path)
        self.position = 0

    def records(self) -> Iterator:
        """Yield the Header, then records and Problems in file order."""
        handlers = _RECORDS[self.kind]
        source = open_xml(self.path)
        header_seen = False
        try:
            for _, elem in iterparse(source, events=("end",), parser=_RecordParser()):
                self.position = source.position
                tag = elem.tag
                if tag == "PARAMETRES" and not header_seen:
                    header_seen = True
                    yield _header(elem)
                    continue
                handler = handlers.get(tag)
                line = elem.get(_LINE)
                if handler is None or line is None:
                    continue
                if not header_seen and self.kind != "nomenclature":
                    raise FileRejected(f"{self.name}: no PARAMETRES/UAJ before the data")
                record = handler(elem, line)
                if record is not None:
                    yield record
        except (ParseError, DefusedXmlException) as exc:
            raise _refuse(self.name, exc) from exc
        finally:
            source.close()
        self.position = self.size
