"""Reading SIECLE XML exports: kinds, encodings, bad rows, and files refused whole."""

import tracemalloc
import zipfile

import pytest
from defusedxml import DefusedXmlException

from idp.directory import siecle
from idp.directory import textio
from idp.directory.models import Mef
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.records import DivisionRecord
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.records import LinkRecord
from idp.directory.records import MefRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from tests.directory.builders import eleves_xml
from tests.directory.builders import person
from tests.directory.builders import pupil
from tests.directory.builders import responsables_xml
from tests.directory.conftest import COLLEGE
from tests.directory.conftest import EXAMPLES


def records(path):
    """Everything a SIECLE file yields."""
    return list(siecle.SiecleFile(path).records())


def write(tmp_path, text, name="ElevesSansAdresses.xml", encoding="iso-8859-15"):
    """Write a test file in an encoding; return its path."""
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_each_file_kind_is_read_from_its_root_element():
    base = EXAMPLES / "siecle"
    assert siecle.sniff(base / COLLEGE / "ElevesSansAdresses.xml") == "eleves"
    assert siecle.sniff(base / COLLEGE / "ResponsablesSansAdresses.xml") == "responsables"
    assert siecle.sniff(base / "Nomenclature.xml") == "nomenclature"


def test_pupils_file_gives_header_pupils_then_classes_in_iso_8859_15():
    found = records(EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml")
    assert found[0] == Header(uai=COLLEGE, year=2025)
    pupils = [r for r in found if isinstance(r, PupilRecord)]
    divisions = {r.source_id: r.division for r in found if isinstance(r, DivisionRecord)}
    assert len(pupils) == 6 and len(divisions) == 6
    eloise = next(p for p in pupils if p.ine == "120000006AG")
    assert (eloise.given_name, eloise.family_name, eloise.sex) == ("Éloïse", "FAURÉ", "F")
    assert eloise.birthdate.isoformat() == "2012-11-30"
    assert eloise.mef == "10210001110"
    assert divisions[eloise.source_id] == "4B"
    chloe = next(p for p in pupils if p.given_name == "Chloé")
    assert chloe.previous_school == ("0061903L", "ECOLE ELEMENTAIRE LES MIMOSAS")
    assert eloise.line > chloe.line > 1


def test_representatives_file_gives_people_and_legal_links_only():
    found = records(EXAMPLES / "siecle" / COLLEGE / "ResponsablesSansAdresses.xml")
    people = {r.source_id: r for r in found if isinstance(r, PersonRecord)}
    links = [r for r in found if isinstance(r, LinkRecord)]
    sophie = people["2001"]
    assert (sophie.birth_name, sophie.usage_name, sophie.given_name) == (
        "ROUX", "LEGRAND", "Sophie"
    )
    assert (sophie.mobile, sophie.civility, sophie.sms_consent) == ("+33611223344", "Mme", True)
    assert people["2004"].mobile is None  # a landline is not a mobile
    # The grandmother (RESP_LEGAL 0) is a contact: no link.
    assert {(link.pupil_source_id, link.person_source_id) for link in links} >= {
        ("1001", "2001"), ("1001", "2002")
    }
    assert ("1005", "2008") not in {(x.pupil_source_id, x.person_source_id) for x in links}
    assert len(links) == 8


def test_nomenclature_gives_mefs_with_their_mefstat():
    mefs = {r.code: r for r in records(EXAMPLES / "siecle" / "Nomenclature.xml")
            if isinstance(r, MefRecord)}
    assert mefs["10310019110"].mefstat11 == "21160010019"
    assert mefs["10310019110"].label == "3EME"


def test_utf8_files_with_or_without_declaration_are_read(tmp_path):
    text = eleves_xml([pupil(given="Maëlys")], encoding="UTF-8")
    found = records(write(tmp_path, text, encoding="utf-8"))
    assert [r.given_name for r in found if isinstance(r, PupilRecord)] == ["Maëlys"]
    bare = eleves_xml([pupil(given="Maëlys")], declaration=False)
    found = records(write(tmp_path, bare, name="bare.xml", encoding="utf-8"))
    assert [r.given_name for r in found if isinstance(r, PupilRecord)] == ["Maëlys"]


def test_undeclared_iso_8859_15_is_detected(tmp_path):
    text = eleves_xml([pupil(given="Maëlys Œ€")], declaration=False)
    found = records(write(tmp_path, text, encoding="iso-8859-15"))
    assert [r.given_name for r in found if isinstance(r, PupilRecord)] == ["Maëlys Œ€"]


@pytest.mark.parametrize("fields, reason", [
    ({"ine": "12345"}, "INE '12345'"),
    ({"ine": ""}, "INE missing"),
    ({"born": "31/02/2012"}, "date '31/02/2012'"),
    ({"born": ""}, "DATE_NAISS missing"),
    ({"exit_date": "2012-13-01"}, "date '2012-13-01'"),
    ({"given": ""}, "NOM and PRENOM"),
    ({"eleve_id": "", "division": ""}, "ELEVE_ID missing"),
])
def test_bad_pupils_are_problems_with_line_and_reason_while_the_others_are_read(
        tmp_path, fields, reason):
    text = eleves_xml([pupil(eleve_id="1", ine="111111111AA"), pupil(**{
        "eleve_id": "2", "ine": "222222222BB", **fields
    }), pupil(eleve_id="3", ine="333333333CC")])
    found = records(write(tmp_path, text))
    problems = [r for r in found if isinstance(r, Problem)]
    assert len(problems) == 1 and reason in problems[0].reason
    assert problems[0].line == 7  # the second ELEVE's line in the file
    assert [r.ine for r in found if isinstance(r, PupilRecord)] == ["111111111AA", "333333333CC"]


def test_a_csv_file_is_refused_as_not_xml_with_a_hint_for_onde(tmp_path):
    path = write(tmp_path, "Nom élève;Prénom élève\nMARTIN;Jean\n", name="eleves.csv")
    with pytest.raises(FileRejected, match=r"not an XML file: .*CSV.*--format onde"):
        siecle.SiecleFile(path)


@pytest.mark.parametrize("content, message", [
    (b"hello\n", "not an XML file"),
    (b"", "empty file"),
    (b"  \r\n", "empty file"),
])
def test_other_files_that_are_not_xml_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "Eleves.xml"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match=message):
        siecle.SiecleFile(path)


def test_a_file_of_another_kind_is_refused_with_its_root(tmp_path):
    path = write(tmp_path, '<?xml version="1.0"?><STS_EDT><PARAMETRES/></STS_EDT>')
    with pytest.raises(FileRejected, match=r"not a SIECLE export: root element <STS_EDT>"):
        siecle.SiecleFile(path)


def test_a_file_broken_half_way_is_refused_when_reached(tmp_path):
    text = eleves_xml([pupil(eleve_id=str(i), ine=f"{i:09d}AA") for i in range(1, 50)])
    path = write(tmp_path, text[: len(text) // 2] + "<ELEVE><</DONNEES>")
    source = siecle.SiecleFile(path)
    with pytest.raises(FileRejected, match=r"not well-formed XML \(line \d+"):
        list(source.records())


def test_a_file_without_parametres_is_refused(tmp_path):
    text = eleves_xml([pupil()]).replace(
        "<PARAMETRES><UAJ>0830901D</UAJ><ANNEE_SCOLAIRE>2025</ANNEE_SCOLAIRE></PARAMETRES>", ""
    )
    with pytest.raises(FileRejected, match="no PARAMETRES"):
        records(write(tmp_path, text))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE BEE_ELEVES [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<BEE_ELEVES><PARAMETRES><UAJ>&lol3;</UAJ></PARAMETRES></BEE_ELEVES>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE BEE_ELEVES [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<BEE_ELEVES><PARAMETRES><UAJ>&x;</UAJ></PARAMETRES></BEE_ELEVES>
"""
DTD_ONLY = '<?xml version="1.0"?><!DOCTYPE BEE_ELEVES SYSTEM "http://example.org/x.dtd">' \
    "<BEE_ELEVES/>"


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL, DTD_ONLY])
def test_entity_expansion_external_entities_and_dtds_are_refused(tmp_path, text):
    with pytest.raises(FileRejected, match="DTD or entities"):
        siecle.SiecleFile(write(tmp_path, text))


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL])
def test_the_record_parser_itself_keeps_defusedxml_protections(text):
    expat, _ = siecle._parser()
    with pytest.raises(DefusedXmlException):
        expat.Parse(text.encode(), True)


def test_memory_stays_flat_whatever_the_number_of_pupils(tmp_path):
    def peak(count):
        text = eleves_xml([pupil(eleve_id=str(i), ine=f"{i:09d}AA", division="")
                           for i in range(count)])
        path = write(tmp_path, text, name=f"e{count}.xml")
        tracemalloc.start()
        n = sum(1 for r in siecle.SiecleFile(path).records() if isinstance(r, PupilRecord))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert n == count
        return top

    small, large = peak(1_000), peak(20_000)
    assert large < small * 2, (small, large)


# --- Zipped exports -----------------------------------------------------------------


def zipped(tmp_path, members: dict, name="ExportXML_ElevesSansAdresses.zip"):
    """A ZIP archive of the given members (name -> bytes); return its path."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_a_zipped_export_is_read_like_the_file_it_holds(tmp_path):
    text = eleves_xml([pupil(eleve_id=str(i), ine=f"{i:09d}AA", given="Hervé")
                       for i in range(1, 300)])
    path = zipped(tmp_path, {"ElevesSansAdresses.xml": text.encode("iso-8859-15")})
    source = siecle.SiecleFile(path)
    assert source.kind == "eleves"
    found = list(source.records())
    pupils = [r for r in found if isinstance(r, PupilRecord)]
    assert len(pupils) == 299 and pupils[0].given_name == "Hervé"
    assert found == records(write(tmp_path, text))
    # Progress is counted in bytes of the archive, the size the command line adds up.
    assert source.position == source.size == path.stat().st_size


def test_a_directory_entry_and_macos_metadata_do_not_count_as_files(tmp_path):
    text = eleves_xml([pupil()]).encode("iso-8859-15")
    path = zipped(tmp_path, {"export/": b"", "export/ElevesSansAdresses.xml": text,
                             "__MACOSX/export/._ElevesSansAdresses.xml": b"\0\5"})
    assert siecle.SiecleFile(path).kind == "eleves"


@pytest.mark.parametrize("members, message", [
    ({"ElevesSansAdresses.xml": b"<a/>", "ResponsablesAvecAdresses.xml": b"<b/>"},
     r"exactly one export file; it holds 2 \(ElevesSansAdresses.xml, Responsables"),
    ({}, "it holds 0"),
])
def test_an_archive_of_several_files_or_none_is_refused(tmp_path, members, message):
    with pytest.raises(FileRejected, match=message):
        siecle.SiecleFile(zipped(tmp_path, members))


def test_a_damaged_archive_is_refused(tmp_path):
    path = zipped(tmp_path, {"ElevesSansAdresses.xml": eleves_xml([pupil()]).encode()})
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(FileRejected, match="damaged ZIP archive"):
        siecle.SiecleFile(path)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    # A megabyte of spaces inflates about a thousand times: the bounds are lowered
    # rather than the test writing gigabytes.
    monkeypatch.setattr(textio, "RATIO_CHECKED_FROM", 1 << 16)
    path = zipped(tmp_path, {"ElevesSansAdresses.xml": b"<BEE_ELEVES>" + b" " * (1 << 20)})
    with pytest.raises(FileRejected, match=r"ratio \d+.*zip bombs"):
        siecle.SiecleFile(path)
    monkeypatch.setattr(textio, "MAX_UNCOMPRESSED", 100)
    path = zipped(tmp_path, {"E.xml": eleves_xml([pupil()]).encode()}, name="small.zip")
    with pytest.raises(FileRejected, match="inflates to .* bytes"):
        siecle.SiecleFile(path)


# --- Encodings ----------------------------------------------------------------------


NAMES = [pupil(eleve_id="1", ine="111111111AA", family="CŒURDEROI", given="Hervé"),
         pupil(eleve_id="2", ine="222222222BB", family="D’ALMEIDA", given="Zoé")]


def given_and_family(path):
    """(family, given) of the pupils a file gives."""
    return [(r.family_name, r.given_name) for r in records(path) if isinstance(r, PupilRecord)]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_content_declaring_latin9_is_read_as_utf8(tmp_path, bom):
    # Re-saved in Notepad: UTF-8 bytes, the ISO-8859-15 declaration kept.
    path = tmp_path / "Eleves.xml"
    path.write_bytes(bom + eleves_xml(NAMES, encoding="ISO-8859-15").encode("utf-8"))
    assert given_and_family(path) == [("CŒURDEROI", "Hervé"), ("D’ALMEIDA", "Zoé")]


@pytest.mark.parametrize("declared", ["ISO-8859-1", "ISO-8859-15", None])
def test_windows_1252_bytes_are_read_as_windows_1252(tmp_path, declared):
    # 0x8C (Œ) and 0x92 (’) are control characters in ISO-8859-1/15: no name has them.
    text = eleves_xml(NAMES, encoding=declared or "", declaration=bool(declared))
    path = tmp_path / "Eleves.xml"
    path.write_bytes(text.encode("cp1252"))
    assert b"\x8c" in path.read_bytes() and b"\x92" in path.read_bytes()
    assert given_and_family(path) == [("CŒURDEROI", "Hervé"), ("D’ALMEIDA", "Zoé")]


def test_bytes_windows_1252_leaves_undefined_do_not_stop_the_import(tmp_path):
    # 0x81 has no character in Windows-1252: it is read as the ISO-8859-1 control it is.
    text = eleves_xml([pupil(family="CŒUR", given="Anaïs")], encoding="ISO-8859-1")
    path = tmp_path / "Eleves.xml"
    path.write_bytes(text.encode("cp1252").replace(b"Ana\xefs", b"Ana\x81s"))
    assert given_and_family(path) == [("CŒUR", "Ana\x81s")]


def test_iso_8859_15_letters_keep_their_meaning_without_windows_bytes(tmp_path):
    # 0xBC is Œ in ISO-8859-15 (¼ in Windows-1252): without 0x80-0x9F bytes the
    # declaration is followed.
    path = write(tmp_path, eleves_xml([pupil(family="CŒUR", given="€lise")]))
    assert given_and_family(path) == [("CŒUR", "€lise")]


def test_latin9_content_declaring_utf8_is_refused_with_a_hint(tmp_path):
    text = eleves_xml(NAMES[:1], encoding="UTF-8")
    path = write(tmp_path, text, encoding="iso-8859-15")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "CŒURDEROI" in t)
    with pytest.raises(FileRejected, match=(
        rf"declares UTF-8 but is not UTF-8 \(byte 0xBC at line {line}, column \d+\): "
        "the encoding declaration does not match the content"
    )):
        siecle.SiecleFile(path)


def test_a_bom_that_the_content_contradicts_is_refused(tmp_path):
    path = tmp_path / "Eleves.xml"
    path.write_bytes(b"\xef\xbb\xbf" + eleves_xml(NAMES[:1]).encode("iso-8859-15"))
    with pytest.raises(FileRejected, match="starts with a UTF-8 byte order mark but is not"):
        siecle.SiecleFile(path)


# --- Column lengths -----------------------------------------------------------------


def fits(record) -> bool:
    """Whether every value a record gives fits the column the importer writes it to."""
    columns = {
        PupilRecord: {"source_id": Pupil.source_id, "family_name": Pupil.family_name,
                      "usage_name": Pupil.usage_name, "given_name": Pupil.given_name,
                      "mef": Pupil.mef, "division": Pupil.division,
                      "level_label": Pupil.level_label},
        DivisionRecord: {"division": Pupil.division},
        PersonRecord: {"birth_name": Representative.birth_name,
                       "usage_name": Representative.usage_name,
                       "given_name": Representative.given_name,
                       "mobile": Representative.mobile, "email": Representative.email},
        MefRecord: {"code": Mef.code, "mefstat11": Mef.mefstat11, "label": Mef.label},
    }.get(type(record), {})
    return all(len(getattr(record, f) or "") <= c.type.length for f, c in columns.items())


LONG_CLASS = "3EME A - option théâtre et section européenne anglais (groupe du mardi)"


def test_a_long_class_is_cut_at_a_word_with_a_warning_and_the_pupil_kept(tmp_path):
    found = records(write(tmp_path, eleves_xml([pupil(division=LONG_CLASS)])))
    division = next(r for r in found if isinstance(r, DivisionRecord))
    assert division.division == "3EME A - option théâtre et section européenne anglais (groupe…"
    assert len(division.division) <= 64
    warning = next(r for r in found if isinstance(r, Problem))
    assert not warning.rejected and "CODE_STRUCTURE is 71 characters" in warning.reason
    assert all(fits(r) for r in found)


def test_a_mef_too_long_to_be_one_is_not_cut_and_the_pupil_kept_without_it(tmp_path):
    found = records(write(tmp_path, eleves_xml([pupil(mef="103100191101")])))
    record = next(r for r in found if isinstance(r, PupilRecord))
    assert record.mef is None
    warning = next(r for r in found if isinstance(r, Problem))
    assert not warning.rejected
    assert warning.reason.startswith("CODE_MEF is 12 characters long, more than the 11")
    assert warning.reason.endswith("imported without a MEF")


@pytest.mark.parametrize("fields, reason", [
    ({"eleve_id": "9" * 33}, "ELEVE_ID is 33 characters long, more than the 32"),
    ({"family": "A" * 129}, "NOM_DE_FAMILLE is 129 characters long, more than the 128"),
    ({"given": "Marie " * 22}, "PRENOM is 131 characters long"),
    ({"family": "Œ" * 100, "given": "Æ" * 100}, "their matching key has 401 characters"),
])
def test_ids_and_names_that_do_not_fit_reject_the_row(tmp_path, fields, reason):
    text = eleves_xml([pupil(eleve_id="1", ine="111111111AA"),
                       pupil(**{"eleve_id": "2", "ine": "222222222BB", **fields})])
    found = records(write(tmp_path, text, encoding="utf-8" if "Œ" in str(fields) else
                          "iso-8859-15").with_name("ElevesSansAdresses.xml"))
    problems = [r for r in found if isinstance(r, Problem)]
    assert [p.rejected for p in problems] == [True] and reason in problems[0].reason
    assert [r.ine for r in found if isinstance(r, PupilRecord)] == ["111111111AA"]
    assert all(fits(r) for r in found)


def test_representatives_long_ids_are_rejected_and_long_emails_dropped(tmp_path):
    text = responsables_xml(
        [person(personne_id="1"), person(personne_id="2" * 81, given="Luc")], []
    ).replace("</TEL_PORTABLE></PERSONNE>",
              f"</TEL_PORTABLE><MEL>{'x' * 250}@example.org</MEL></PERSONNE>", 1)
    found = records(write(tmp_path, text, name="Responsables.xml"))
    problems = [(p.rejected, p.reason.split(":")[0]) for p in found if isinstance(p, Problem)]
    assert problems == [
        (False, "MEL is 262 characters long, more than the 254 the directory stores"),
        (True, "PERSONNE_ID is 81 characters long, more than the 80 the directory stores"),
    ]
    people = [r for r in found if isinstance(r, PersonRecord)]
    assert [(p.source_id, p.email) for p in people] == [("1", None)]


def test_nomenclature_codes_that_do_not_fit_are_rejected_and_labels_cut(tmp_path):
    label = "SECONDE GENERALE ET TECHNOLOGIQUE " * 4
    text = (
        '<?xml version="1.0" encoding="ISO-8859-15"?>\n<BEE_NOMENCLATURES><DONNEES><MEFS>\n'
        '<MEF CODE_MEF="200100011101"><FORMATION>2NDE</FORMATION></MEF>\n'
        '<MEF CODE_MEF="20010001110"><CODE_MEFSTAT>211100010019</CODE_MEFSTAT></MEF>\n'
        f'<MEF CODE_MEF="20010001111"><FORMATION>{label}</FORMATION>'
        "<CODE_MEFSTAT>21110001001</CODE_MEFSTAT></MEF>\n"
        "</MEFS></DONNEES></BEE_NOMENCLATURES>\n"
    )
    found = records(write(tmp_path, text, name="Nomenclature.xml"))
    problems = [(p.line, p.rejected, p.reason.split(" is ")[0])
                for p in found if isinstance(p, Problem)]
    assert problems == [(3, True, "CODE_MEF"), (4, True, "CODE_MEFSTAT"),
                        (5, False, "FORMATION")]
    mef = next(r for r in found if isinstance(r, MefRecord))
    assert mef.code == "20010001111" and mef.label.endswith(" SECONDE GENERALE ET…")
    assert all(fits(r) for r in found)


def test_rejected_rows_carry_the_ids_the_importer_keeps_their_records_by(tmp_path):
    eleves = eleves_xml([pupil(eleve_id="2", born="31/02/2012"),
                         pupil(eleve_id="", ine="222222222BB", division=""),
                         pupil(eleve_id="3", ine="333333333CC", mef="1" * 40)])
    found = records(write(tmp_path, eleves))
    assert [(p.rejected, p.key) for p in found if isinstance(p, Problem)] == [
        (True, ("2",)), (True, None), (False, None),
    ]
    # The key is the id itself, whatever the reference shows of it.
    long_id = "2" * 81
    resp = responsables_xml(
        [person(personne_id="11", given=""), person(personne_id=long_id), person("")],
        [("1", "10", "9"), ("", "10", "9"), ("1", "", "1")],
    )
    found = records(write(tmp_path, resp, name="Responsables.xml"))
    problems = [p for p in found if isinstance(p, Problem)]
    assert [p.key for p in problems] == [("11",), (long_id,), None, ("10", "1"), None, None]
    assert problems[1].ref.endswith("...")
