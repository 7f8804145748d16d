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
