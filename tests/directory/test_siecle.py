"""Reading SIECLE XML exports: kinds, encodings, bad rows, and files refused whole."""

import tracemalloc

import pytest
from defusedxml import DefusedXmlException

from idp.directory import siecle
from idp.directory.records import DivisionRecord
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.records import LinkRecord
from idp.directory.records import MefRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from tests.directory.builders import eleves_xml
from tests.directory.builders import pupil
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


def test_a_file_that_is_not_xml_is_refused(tmp_path):
    path = write(tmp_path, "Nom élève;Prénom élève\nMARTIN;Jean\n", name="eleves.csv")
    with pytest.raises(FileRejected, match="not well-formed XML"):
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
