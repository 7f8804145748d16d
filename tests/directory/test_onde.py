"""Reading ONDE CSV extractions: header variants, encodings, children by name."""

import pytest

from idp.directory import onde
from idp.directory.records import FileRejected
from idp.directory.records import LinkRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from tests.directory.builders import ONDE_PUPILS_HEADER
from tests.directory.builders import onde_pupils_csv
from tests.directory.conftest import ECOLE
from tests.directory.conftest import EXAMPLES


def records(path):
    """Everything an ONDE file yields."""
    return list(onde.OndeFile(path).records())


def test_sample_pupils_in_iso_8859_15_are_read():
    found = records(EXAMPLES / "onde" / ECOLE / "CSVExtraction.csv")
    zoe = next(r for r in found if r.given_name == "Zoé")
    assert (zoe.family_name, zoe.ine, zoe.level_label, zoe.division, zoe.sex) == (
        "MARCHAND", "1809000003C", "CP", "CP - Mme ROSSI", "F"
    )
    assert zoe.birthdate.isoformat() == "2018-08-22"
    assert all(isinstance(r, PupilRecord) for r in found) and len(found) == 4


def test_next_year_pupils_in_utf8_with_the_older_header_spelling_are_read():
    path = EXAMPLES / "next-year" / "onde" / ECOLE / "CSVExtraction.csv"
    assert onde.sniff(path) == "eleves"
    assert {r.given_name for r in records(path)} == {"Lina", "Zoé", "Adam", "Rose"}


def test_representatives_rows_give_the_person_then_each_child_by_name():
    path = EXAMPLES / "next-year" / "onde" / ECOLE / "CSVExtractionResponsables.csv"
    assert onde.sniff(path) == "responsables"
    found = records(path)
    sophie = found[0]
    assert isinstance(sophie, PersonRecord)
    assert (sophie.birth_name, sophie.usage_name, sophie.given_name, sophie.mobile) == (
        "ROUX", "LEGRAND", "Sophie", "+33611223344"
    )
    children = [r for r in found[1:3]]
    assert all(isinstance(c, LinkRecord) for c in children)
    assert [c.pupil_names for c in children] == [("LEGRAND", "", "Lina"), ("LEGRAND", "", "Rose")]
    assert {c.person_source_id for c in children} == {sophie.source_id}


@pytest.mark.parametrize("header", [
    ONDE_PUPILS_HEADER,
    ONDE_PUPILS_HEADER.replace("Nom élève", "Nom Elève").replace("Prénom élève", "Prénom Elève"),
    ONDE_PUPILS_HEADER.replace("Nom élève", "Nom de l\u2019élève")
    .replace("Prénom élève", "PRENOM DE L'ELEVE"),
    "  " + ONDE_PUPILS_HEADER.replace(";", " ; "),
])
def test_header_variants_are_recognised(tmp_path, header):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text(onde_pupils_csv(
        [("MARTIN", "Léo", "01/02/2017", "M", "1234567890A", "CE1", "CE1 A")], header=header
    ), encoding="utf-8")
    found = records(path)
    assert [(r.family_name, r.given_name) for r in found] == [("MARTIN", "Léo")]


def test_bad_rows_are_problems_with_their_line(tmp_path):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text(onde_pupils_csv([
        ("MARTIN", "Léo", "01/02/2017", "M", "1234567890A", "CE1", "A"),
        ("DURAND", "Léa", "2017-02-30", "F", "1234567891B", "CE1", "A"),
        ("PETIT", "Noé", "01/02/2017", "M", "12345", "CE1", "A"),
        ("ROBERT", "Mia", "01/02/2017", "F", "1234567892C", "CE1", "A"),
    ]) + ";;;;\r\n", encoding="iso-8859-15")  # a blank row at the end is skipped
    found = records(path)
    problems = [(r.line, r.reason.split(":")[0]) for r in found if isinstance(r, Problem)]
    assert problems == [(3, "date '2017-02-30'"), (4, "INE '12345'")]
    assert [r.given_name for r in found if isinstance(r, PupilRecord)] == ["Léo", "Mia"]


@pytest.mark.parametrize("content, message", [
    (b"Nom,Pr\xc3\xa9nom,INE\nMARTIN,L\xc3\xa9o,1234567890A\n", "';'-separated header"),
    (b"Produit;Prix;Quantit\xe9\nPomme;1;2\n", "not an ONDE pupils or representatives"),
    (b"", "';'-separated header"),
    (b"PK\x03\x04\x00\x00binary;spreadsheet", "not an ONDE extraction"),
])
def test_files_of_another_kind_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match=message):
        onde.OndeFile(path)


def test_an_xml_file_or_a_workbook_given_as_onde_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    path.write_bytes(b'<?xml version="1.0"?><BEE_ELEVES/>')
    with pytest.raises(FileRejected, match="an XML file .*--format siecle"):
        onde.OndeFile(path)


ROW = "LEGRAND;;Lina;14/02/2016;F;1609000001A;CYCLE II;CE2;CE2 A;1"


def test_windows_1252_from_excel_is_read_as_such(tmp_path):
    # Œ and ’ are 0x8C and 0x92 in Windows-1252, control characters in ISO-8859-15.
    path = tmp_path / "CSVExtraction.csv"
    path.write_bytes(onde_pupils_csv([
        ("CŒUR", "Chloé", "01/09/2017", "F", "1709000003C", "CE1", "CE1"),
        ("D\u2019ALMEIDA", "Noël", "05/05/2016", "M", "1609000004D", "CE2", "CE2"),
    ]).encode("cp1252"))
    assert [(r.family_name, r.given_name) for r in records(path)] == [
        ("CŒUR", "Chloé"), ("D\u2019ALMEIDA", "Noël")
    ]


def test_an_unclosed_quote_refuses_the_file_naming_its_line(tmp_path):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text("\r\n".join([
        ONDE_PUPILS_HEADER, ROW,
        'MOREAU;;Tom;03/03/2015;M;1509000002B;"CYCLE III;CM2;CM2;2',
        "PETIT;;Noé;01/02/2017;M;1709000005E;CYCLE II;CE1;CE1;3",
        "ROBERT;;Mia;01/02/2017;F;1709000006F;CYCLE II;CE1;CE1;3",
    ]) + "\r\n", encoding="utf-8")
    with pytest.raises(FileRejected, match=(
        r"line 3: cell 7 starts with a quote .* not closed on that line .*lines 3 to 5"
    )):
        records(path)


def test_a_row_whose_cells_do_not_match_the_header_is_rejected(tmp_path):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text("\r\n".join([
        ONDE_PUPILS_HEADER, ROW + ";;",  # trailing empty cells: harmless
        "MOREAU;;Tom;03/03/2015;M;1509000002B;CYCLE III;CM2;CM2 - M. VIDAL; Mme X;2",
        "PETIT;;Noé;01/02/2017;M;1709000005E;CYCLE II;CE1;3",
    ]) + "\r\n", encoding="utf-8")
    found = records(path)
    assert [(p.line, p.ref, p.reason.split(" (")[0]) for p in found
            if isinstance(p, Problem)] == [
        (3, "MOREAU Tom", "11 cells for the 10 columns of the header"),
        (4, "PETIT Noé", "9 cells for the 10 columns of the header"),
    ]
    assert [r.given_name for r in found if isinstance(r, PupilRecord)] == ["Lina"]


def test_a_long_class_label_is_cut_with_a_warning_and_the_pupil_kept(tmp_path):
    label = "CE2 - CM1 - Mme BLANC-DUPONT et M. VIDAL (décloisonnement lecture)"
    path = tmp_path / "CSVExtraction.csv"
    path.write_text(onde_pupils_csv(
        [("MARTIN", "Paul", "01/01/2016", "M", "1609000099Z", "CE2", label)]
    ), encoding="iso-8859-15")
    warning, pupil = records(path)
    assert pupil.division == "CE2 - CM1 - Mme BLANC-DUPONT et M. VIDAL (décloisonnement…"
    assert not warning.rejected and warning.line == 2
    assert warning.reason.startswith("Libellé classe is 66 characters long, more than the 64")


def test_a_name_too_long_for_its_column_rejects_the_row(tmp_path):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text(onde_pupils_csv(
        [("MARTIN " * 19, "Paul", "01/01/2016", "M", "1609000099Z", "CE2", "CE2")]
    ), encoding="utf-8")
    [problem] = records(path)
    assert problem.rejected and problem.reason.startswith("Nom élève is 132 characters long")


PEOPLE_HEADER = ("Civilité Responsable;Nom usage responsable;Nom responsable;Prénom responsable;"
                 "Adresse responsable;CP responsable;Commune responsable;Pays;Courriel;"
                 "Téléphone domicile;Téléphone travail;Téléphone portable;Nom d'usage enfant;"
                 "Nom de famille enfant;Prénom enfant;Classes enfants")


def people_ids(tmp_path, rows):
    """The record ids (source_id) of the people of a representatives file."""
    path = tmp_path / "responsables.csv"
    path.write_text("\r\n".join([PEOPLE_HEADER, *rows]) + "\r\n", encoding="utf-8")
    return [r.source_id for r in records(path) if isinstance(r, PersonRecord)]


def test_namesakes_without_mobile_or_email_are_told_apart_by_address(tmp_path):
    first, second, again = people_ids(tmp_path, [
        "M.;;MARTIN;Jean;1 rue des Lilas;06000;Nice;FRANCE;;;;;;N'DIAYE;Aïssatou;CM2",
        "M.;;MARTIN;Jean;2 rue des Roses;06000;Nice;FRANCE;;;;;;NOUVEL;Ali;CE2",
        # The same address written otherwise: the same person, listed again.
        "M.;;Martin;JEAN;1, RUE DES LILAS;06000;NICE;FRANCE;;;;;;N'DIAYE;Moussa;CP",
    ])
    assert first != second and first == again


def test_namesakes_without_any_contact_or_address_are_told_apart_by_children(tmp_path):
    first, second, again = people_ids(tmp_path, [
        "M.;;MARTIN;Jean;;;;;;;;;;N'DIAYE;Aïssatou;CM2",
        "M.;;MARTIN;Jean;;;;;;;;;;NOUVEL;Ali;CE2",
        "M.;;MARTIN;Jean;;;;;;;;;;N'DIAYE;Aïssatou;CM2",
    ])
    assert first != second and first == again


def test_a_mobile_still_identifies_a_person_whatever_the_address(tmp_path):
    first, second = people_ids(tmp_path, [
        "M.;;MARTIN;Jean;1 rue des Lilas;06000;Nice;FRANCE;;;;06 11 22 33 44;;A;Léa;CP",
        "M.;;MARTIN;Jean;2 rue des Roses;06000;Nice;FRANCE;;;;0611223344;;B;Noé;CE1",
    ])
    assert first == second
    # The key of a person with a mobile is the one earlier versions gave: kept records.
    assert first == onde.person_digest("MARTIN", "Jean", "+33611223344", "")


def test_a_parent_without_contact_keeps_the_id_of_earlier_imports_when_alone(tmp_path):
    [first] = people_ids(tmp_path, ["M.;;MARTIN;Jean;1 rue des Lilas;06000;Nice;FRANCE;;;;;;"
                                    "N'DIAYE;Aïssatou;CM2"])
    # Next year: moved, and another child at the school. Still the same record, whose id
    # is the one the first version of the rule gave (names alone).
    [moved] = people_ids(tmp_path, ["M.;;MARTIN;Jean;9 avenue Foch;06000;Nice;FRANCE;;;;;;"
                                    "N'DIAYE;Moussa;CP"])
    assert first == moved == onde.person_digest("MARTIN", "Jean", None, "")


def test_rejected_rows_carry_the_name_key_the_importer_keeps_their_records_by(tmp_path):
    path = tmp_path / "CSVExtraction.csv"
    path.write_text(onde_pupils_csv([
        ("LE GALL-HERVÉ", "Anne Marie", "2017-02-30", "F", "1234567891B", "CE1", "A"),
        ("", "", "01/02/2017", "M", "1234567892C", "CE1", "A"),
        ("MARTIN", "Paul", "01/01/2016", "M", "1609000099Z", "CE2", "C" * 70),
    ]), encoding="utf-8")
    found = records(path)
    # Names keyed as the importer compares them: no accents, case, spaces or hyphens.
    assert [(p.rejected, p.key) for p in found if isinstance(p, Problem)] == [
        (True, ("legallherve|annemarie",)), (True, None), (False, None),
    ]
    path = tmp_path / "responsables.csv"
    path.write_text("\r\n".join([
        PEOPLE_HEADER,
        f"M.;;{'MARTIN ' * 19};Jean;;;;;;;;;;DURAND;Léa;CP",
        "M.;;;;;;;;;;;;;DURAND;Léa;CP",
    ]) + "\r\n", encoding="utf-8")
    found = records(path)
    assert [p.key for p in found if isinstance(p, Problem)] == [("martin" * 19 + "|jean",), None]
