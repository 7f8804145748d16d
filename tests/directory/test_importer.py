"""Importing SIECLE and ONDE files: idempotence, next year, moves, rollback, bad rows."""

import pytest
from sqlalchemy import select

from idp.directory import importer
from idp.directory.models import Academie
from idp.directory.models import Pupil
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account
from tests.directory.builders import eleves_xml
from tests.directory.builders import person
from tests.directory.builders import pupil
from tests.directory.builders import responsables_xml
from tests.directory.conftest import COLLEGE
from tests.directory.conftest import ECOLE
from tests.directory.conftest import EXAMPLES
from tests.directory.conftest import LYCEE
from tests.directory.conftest import onde_files
from tests.directory.conftest import siecle_files

SKIPPED_TABLES = {"audit_events", "signing_keys", "alembic_version"}


def snapshot(app, skip=()) -> dict:
    """Every row of every table that an import may touch, comparable."""
    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
            if table.name not in SKIPPED_TABLES and table.name not in skip
        }


# On PostgreSQL identifier numbers are reserved in transactions of their own, so that
# concurrent imports do not wait on each other: a rolled-back import leaves a gap there.
RESERVED = ("identifier_counters",)


def pupils_by_ine(app) -> dict:
    """Each pupil's schooling and account, by INE."""
    with app.app_context():
        rows = db.session.execute(
            select(Pupil, School.uai, Academie.code, Account)
            .outerjoin(School, School.id == Pupil.school_id)
            .outerjoin(Academie, Academie.id == School.academie_id)
            .outerjoin(Account, Account.id == Pupil.account_id)
        ).all()
        result = {}
        for p, uai, academie, account in rows:
            result[p.ine] = {
                "name": f"{p.given_name} {p.family_name}", "uai": uai, "academie": academie,
                "division": p.division, "level": p.mefstat4, "label": p.level_label,
                "degree": p.degree, "left": p.left_at is not None, "account_id": p.account_id,
                "identifier": account.identifier if account else None,
                "status": account.status if account else None,
                "password": account.password_hash if account else None,
                "role": account.role if account else None,
            }
        return result


def test_sample_files_build_schools_pupils_and_provisional_accounts(app, examples_imported):
    counts = {(r.kind, r.uai): (r.created, r.rejected) for r in examples_imported}
    assert counts[("eleves", COLLEGE)] == (6, 0)
    assert counts[("eleves", LYCEE)] == (4, 0)
    assert counts[("eleves", ECOLE)] == (4, 0)
    assert counts[("responsables", COLLEGE)] == (8, 0)  # the grandmother is a contact only
    pupils = pupils_by_ine(app)
    jade = pupils["120000001AB"]
    assert jade == {
        "name": "Jade LEGRAND", "uai": COLLEGE, "academie": "nice", "division": "4A",
        "level": "2115", "label": "4EME", "degree": "2d", "left": False,
        "account_id": jade["account_id"], "identifier": "j.legrand1", "status": "provisional",
        "password": None, "role": "eleve",
    }
    assert pupils["090000001BA"]["academie"] == "aix-marseille"
    lina = pupils["1609000001A"]
    assert (lina["degree"], lina["division"], lina["label"], lina["level"]) == (
        "1d", "CE2 - Mme BLANC", "CE2", None
    )
    assert lina["identifier"] == "l.legrand1"
    with app.app_context():
        schools = dict(db.session.execute(select(School.uai, School.name)).all())
    # The lycée's file names the collège its pupils came from; ONDE got --school-name.
    assert schools == {COLLEGE: "COLLEGE DES OLIVIERS", LYCEE: "",
                       ECOLE: "École élémentaire Les Mimosas"}


def test_importing_the_same_files_again_changes_nothing(app, run_import, examples_imported):
    before = snapshot(app)
    again = run_import(siecle_files()) + run_import(onde_files(), fmt="onde", uai=ECOLE)
    assert snapshot(app) == before
    assert all(r.created == r.updated == r.left == r.removed == 0 for r in again)
    assert sum(r.unchanged for r in again) == sum(r.created for r in examples_imported)


def test_next_year_updates_classes_marks_leavers_and_adds_newcomers(app, run_import,
                                                                     examples_imported):
    before = pupils_by_ine(app)
    reports = run_import(siecle_files("next-year"))
    reports += run_import(onde_files("next-year"), fmt="onde", uai=ECOLE)
    after = pupils_by_ine(app)
    college = next(r for r in reports if (r.kind, r.uai) == ("eleves", COLLEGE))
    assert (college.created, college.updated, college.left) == (1, 5, 1)
    # Jade moves up: new class and level, same account.
    assert (after["120000001AB"]["division"], after["120000001AB"]["level"]) == ("3B", "2116")
    assert after["120000001AB"]["account_id"] == before["120000001AB"]["account_id"]
    # Manon is no longer listed: kept, marked as having left, account kept.
    assert after["120000004AE"]["left"] and after["120000004AE"]["account_id"]
    assert after["070000003BC"]["left"]  # Emma, after the terminale
    # Newcomers get provisional accounts.
    assert after["140000008AH"]["identifier"] == "i.fontaine1"
    assert after["2009000005E"]["identifier"] == "r.legrand1"
    # Tom leaves the école for the collège: second degree now, same account, not "left".
    tom_before, tom = before["1509000002B"], after["1509000002B"]
    assert (tom_before["degree"], tom["degree"], tom["uai"], tom["left"]) == (
        "1d", "2d", COLLEGE, False
    )
    assert tom["account_id"] == tom_before["account_id"]
    assert tom["identifier"] == tom_before["identifier"] == "t.moreau1"
    # ...and importing next year's files once more changes nothing.
    frozen = snapshot(app)
    run_import(siecle_files("next-year"))
    run_import(onde_files("next-year"), fmt="onde", uai=ECOLE)
    assert snapshot(app) == frozen


def test_a_pupil_moving_to_another_academie_keeps_their_account(app, run_import):
    run_import([EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    yanis = pupils_by_ine(app)["120000003AD"]
    assert (yanis["academie"], yanis["identifier"]) == ("nice", "y.benali1")
    run_import([EXAMPLES / "next-year" / "siecle" / LYCEE / "ElevesSansAdresses.xml"])
    moved = pupils_by_ine(app)["120000003AD"]
    assert (moved["academie"], moved["uai"], moved["division"]) == ("aix-marseille", LYCEE, "2A")
    assert moved["account_id"] == yanis["account_id"]
    assert moved["identifier"] == "y.benali1"
    # The collège's next file no longer lists him; that does not make him "left" in Aix.
    run_import([EXAMPLES / "next-year" / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    assert pupils_by_ine(app)["120000003AD"]["left"] is False


def test_a_stale_listing_does_not_take_a_pupil_back_from_the_school_they_joined(
        app, run_import, tmp_path):
    joined = tmp_path / "joined.xml"
    joined.write_text(eleves_xml([pupil(entry_date="01/09/2025")], uai=LYCEE),
                      encoding="iso-8859-15")
    stale = tmp_path / "stale.xml"
    stale.write_text(eleves_xml([pupil(entry_date="01/09/2024"),
                                 pupil(eleve_id="2", ine="222222222BB", exit_date="")],
                                uai=COLLEGE), encoding="iso-8859-15")
    run_import([joined])
    run_import([stale])
    assert pupils_by_ine(app)["123456789AB"]["uai"] == LYCEE


def test_a_crash_in_the_middle_of_a_file_leaves_the_directory_as_it_was(
        app, run_import, examples_imported, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 2)  # several batches are written before the crash
    before = snapshot(app, skip=RESERVED)

    def crash(self):
        raise RuntimeError("power cut")

    monkeypatch.setattr(importer._PupilsJob, "_mark_left", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        run_import([EXAMPLES / "next-year" / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    monkeypatch.setattr(importer._PeopleJob, "_remove_unlinked", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        run_import([EXAMPLES / "next-year" / "siecle" / LYCEE / "ResponsablesSansAdresses.xml"])
    assert snapshot(app, skip=RESERVED) == before


def test_a_file_broken_half_way_is_refused_whole_and_the_other_files_import(
        app, run_import, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH", 5)
    text = eleves_xml([pupil(eleve_id=str(i), ine=f"{i:09d}AB") for i in range(1, 40)])
    broken = tmp_path / "ElevesSansAdresses.xml"
    broken.write_text(text[: len(text) * 2 // 3] + "</ELEVES", encoding="iso-8859-15")
    before = snapshot(app, skip=RESERVED)
    reports = run_import([broken, EXAMPLES / "siecle" / LYCEE / "ElevesSansAdresses.xml"],
                         refused_ok=True)
    refused = next(r for r in reports if r.error)
    assert "not well-formed XML" in refused.error and refused.created == 0
    after = snapshot(app, skip=RESERVED)
    assert after["pupils"] != before["pupils"]
    assert not any("000000001AB" in row for row in after["pupils"])
    assert {p["uai"] for p in pupils_by_ine(app).values()} == {LYCEE}


def test_bad_rows_are_reported_with_file_line_and_reason_and_the_rest_imports(
        app, run_import, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    path.write_text(eleves_xml([
        pupil(eleve_id="1", ine="111111111AA"),
        pupil(eleve_id="2", ine="BAD"),
        pupil(eleve_id="3", ine="111111111AA", given="Doublon"),
        pupil(eleve_id="4", ine="444444444DD", born="32/01/2012"),
        pupil(eleve_id="5", ine="555555555EE"),
    ]), encoding="iso-8859-15")
    [report] = run_import([path])
    assert (report.created, report.rejected) == (2, 3)
    problems = report.as_dict()["problems"]
    assert problems[0]["where"] == f"{path}:7 (ELEVE ELEVE_ID=2)"
    assert [p["reason"].split(":")[0] for p in problems] == [
        "INE 'BAD'", "date '32/01/2012'", "INE 111111111AA listed twice"
    ]
    assert set(pupils_by_ine(app)) == {"111111111AA", "555555555EE"}


def test_a_file_with_more_bad_rows_than_good_is_refused_before_marking_anyone_left(
        app, run_import, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    good = [pupil(eleve_id=str(i), ine=f"{i:09d}AB") for i in range(1, 13)]
    path.write_text(eleves_xml(good), encoding="iso-8859-15")
    run_import([path])
    # Next export: the INE element was renamed, every row is now "without INE".
    renamed = eleves_xml(good).replace("ID_NATIONAL>", "ID_NAT>")
    path.write_text(renamed, encoding="iso-8859-15")
    before = snapshot(app, skip=RESERVED)
    [report] = run_import([path], refused_ok=True)
    assert "12 rows rejected for 0 accepted: the file is refused" in report.error
    assert report.rejected == 12 and report.problems[0].reason == "INE missing"
    assert snapshot(app, skip=RESERVED) == before


def test_links_to_unknown_pupils_or_people_are_reported(app, run_import, tmp_path):
    eleves = tmp_path / "ElevesSansAdresses.xml"
    eleves.write_text(eleves_xml([pupil(eleve_id="1", ine="111111111AA")]),
                      encoding="iso-8859-15")
    people = tmp_path / "ResponsablesSansAdresses.xml"
    people.write_text(responsables_xml(
        [person("10", mobile="06 12"), person("11", given="Anne", mobile="")],
        [("1", "10", "1"), ("99", "11", "1"), ("1", "77", "2"), ("1", "11", "3")],
    ), encoding="iso-8859-15")
    reports = run_import([people, eleves])
    responsables = reports[-1]
    assert responsables.kind == "responsables"
    reasons = [p.reason for p in responsables.problems]
    assert any("no pupil with ELEVE_ID 99" in r for r in reasons)
    assert any("PERSONNE_ID not in PERSONNES" in r for r in reasons)
    assert any("RESP_LEGAL '3'" in r for r in reasons)
    # An unreadable mobile is a warning: the person is imported without one.
    assert responsables.warnings == 1 and "'06 12' is not a phone number" in reasons[0]
    # Anne has no legal link left: her record is not kept.
    assert (responsables.created, responsables.details["links_created"]) == (1, 1)


def test_an_older_school_year_is_refused(app, run_import):
    run_import([EXAMPLES / "next-year" / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    [report] = run_import([EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml"],
                          refused_ok=True)
    assert "school year 2025 is older than the 2026 data" in report.error


def test_onde_files_need_the_uai_and_files_of_the_wrong_format_are_refused(app, run_import):
    [report, _] = run_import(onde_files(), fmt="onde", refused_ok=True)
    assert "give it with --uai" in report.error
    [report] = run_import([EXAMPLES / "siecle" / "Nomenclature.xml"], fmt="onde",
                          refused_ok=True)
    assert "not an ONDE" in report.error
    [report] = run_import([EXAMPLES / "onde" / ECOLE / "CSVExtraction.csv"], refused_ok=True)
    assert "not well-formed XML" in report.error


def test_a_nomenclature_imported_after_the_pupils_gives_them_their_level(app, run_import):
    run_import([EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    assert pupils_by_ine(app)["120000001AB"]["level"] is None
    run_import([EXAMPLES / "siecle" / "Nomenclature.xml"])
    assert (pupils_by_ine(app)["120000001AB"]["level"],
            pupils_by_ine(app)["120000001AB"]["label"]) == ("2115", "4EME")


def test_pupil_names_fixed_by_the_school_reach_their_account(app, run_import, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    path.write_text(eleves_xml([pupil(given="Jehan")]), encoding="iso-8859-15")
    run_import([path])
    path.write_text(eleves_xml([pupil(given="Jean")]), encoding="iso-8859-15")
    [report] = run_import([path])
    assert report.updated == 1
    assert pupils_by_ine(app)["123456789AB"]["name"] == "Jean MARTIN"
    with app.app_context():
        account = db.session.execute(select(Account).where(Account.role == "eleve")).scalar_one()
        assert (account.given_name, account.identifier) == ("Jean", "j.martin1")
