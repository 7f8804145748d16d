"""Importing SIECLE and ONDE files: idempotence, next year, moves, rollback, bad rows,
guards against files that would undo the directory."""

import pytest
from sqlalchemy import insert
from sqlalchemy import select

from idp.directory import family
from idp.directory import importer
from idp.directory import lookup
from idp.directory.models import Academie
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
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
    assert report.error and report.kind is None  # refused as not a SIECLE export


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


# --- Rejected rows are not departures -------------------------------------------------


def write(path, text):
    """Write a test file in the encoding SIECLE and ONDE use."""
    path.write_text(text, encoding="iso-8859-15")
    return path


def pupils_left(app) -> dict:
    """Whether each pupil is marked as having left, by INE."""
    return {ine: p["left"] for ine, p in pupils_by_ine(app).items()}


def links_by_source(app) -> set:
    """Each legal link as (representative's source key, pupil's INE, level)."""
    with app.app_context():
        return set(db.session.execute(
            select(Representative.source_key, Pupil.ine, RepresentativeLink.legal_level)
            .join(RepresentativeLink, RepresentativeLink.representative_id == Representative.id)
            .join(Pupil, Pupil.id == RepresentativeLink.pupil_id)
        ).all())


FOUR = [pupil(eleve_id="1", ine="111111111AA", given="Anaëlle"),
        pupil(eleve_id="2", ine="222222222BB", given="Bruno"),
        pupil(eleve_id="3", ine="333333333CC", given="Chloé"),
        pupil(eleve_id="4", ine="444444444DD", given="David")]
PARENTS = [person("10", birth="MARTIN", given="Paul", mobile="0611111111"),
           person("11", birth="ROUX", given="Sophie", mobile="0622222222"),
           person("12", birth="DURAND", given="Luc", mobile="0633333333")]
PARENT_LINKS = [("1", "10", "1"), ("1", "11", "2"), ("2", "12", "1"), ("3", "12", "1"),
                ("4", "10", "1")]


def test_rejected_rows_keep_the_pupils_people_and_links_they_name(app, run_import, tmp_path):
    eleves, resp = tmp_path / "ElevesSansAdresses.xml", tmp_path / "Responsables.xml"
    run_import([write(eleves, eleves_xml(FOUR)),
                write(resp, responsables_xml(PARENTS, PARENT_LINKS))])
    with app.app_context():
        sophie_id = db.session.execute(
            select(Representative.identity_id)
            .where(Representative.source_key == f"siecle:{COLLEGE}:11")
        ).scalar_one()
        account = family.create_parent_account(db.session.get(ParentIdentity, sophie_id))
        anaelle = db.session.execute(
            select(Pupil).where(Pupil.ine == "111111111AA")
        ).scalar_one()
        family.confirm_child(account, anaelle)
        db.session.commit()
        account_id = account.id
    links_before = links_by_source(app)
    # Next export: Anaëlle's birth date lost its century, Chloé's INE is blank, Bruno has
    # gone; Sophie's first name is blank; the link of David to Paul has a bad RESP_LEGAL.
    year2 = [dict(FOUR[0], born="14/05/11"), dict(FOUR[2], ine=""), FOUR[3]]
    people2 = [PARENTS[0], dict(PARENTS[1], given=""), PARENTS[2]]
    links2 = [("1", "10", "1"), ("1", "11", "2"), ("2", "12", "1"), ("3", "12", "1"),
              ("4", "10", "9")]
    reports = run_import([write(eleves, eleves_xml(year2)),
                          write(resp, responsables_xml(people2, links2))])
    pupils_report, people_report = reports
    assert (pupils_report.rejected, pupils_report.left) == (2, 1)
    assert pupils_report.details["rejected_kept_unchanged"] == 2
    assert pupils_left(app) == {"111111111AA": False, "222222222BB": True,
                                "333333333CC": False, "444444444DD": False}
    # Sophie's record and link stay, and so does Paul's link to David: nothing removed.
    assert (people_report.removed, people_report.details["links_removed"]) == (0, 0)
    assert people_report.details["rejected_kept_unchanged"] == 1
    assert links_by_source(app) == links_before
    # Sophie still gets the child she confirmed.
    with app.app_context():
        assert [c.given_name for c in lookup.children_of(account_id)] == ["Anaëlle"]
    reasons = [p.reason for p in people_report.problems]
    assert sorted(reasons) == ["NOM and PRENOM are required",
                               "RESP_LEGAL '9': 1 or 2 expected",
                               "person PERSONNE_ID 11 was rejected above: link not imported"]
    # Once the rows are readable again, the same file is imported as usual.
    reports = run_import([write(eleves, eleves_xml([FOUR[0], FOUR[2], FOUR[3]])),
                          write(resp, responsables_xml(PARENTS, PARENT_LINKS[:2]
                                                       + PARENT_LINKS[3:]))])
    assert [r.rejected for r in reports] == [0, 0]
    assert reports[1].details["links_removed"] == 1  # Luc and Bruno


def test_many_rows_without_a_birth_date_mark_no_one_left(app, run_import, tmp_path):
    many = [pupil(eleve_id=str(i), ine=f"{i:09d}AB", given=f"Prénom{i}") for i in range(1, 21)]
    path = write(tmp_path / "ElevesSansAdresses.xml", eleves_xml(many))
    run_import([path])
    # 40 % of the rows lost their birth date: below the "more bad than good" refusal.
    blanked = [dict(p, born="") if i % 5 < 2 else p for i, p in enumerate(many)]
    [report] = run_import([write(path, eleves_xml(blanked))])
    assert (report.rejected, report.left, report.unchanged) == (8, 0, 12)
    assert not any(pupils_left(app).values())


def test_links_to_rows_rejected_above_say_so_and_count_once(app, run_import, tmp_path):
    good = [pupil(eleve_id=str(i), ine=f"{i:09d}AB", given=f"Prénom{i}") for i in range(1, 10)]
    bad = [pupil(eleve_id="50", ine="050000000AB", born="31/02/2012")]
    people = [person(str(100 + i), given=f"Parent{i}", mobile="") for i in range(1, 10)]
    # Eight people whose first name is blank, each the parent of a listed pupil.
    blank = [person(str(200 + i), given="", mobile="") for i in range(1, 9)]
    links = [(str(i), str(100 + i), "1") for i in range(1, 10)]
    links += [(str(i), str(200 + i), "2") for i in range(1, 9)] + [("50", "101", "2")]
    reports = run_import([
        write(tmp_path / "Responsables.xml", responsables_xml(people + blank, links)),
        write(tmp_path / "ElevesSansAdresses.xml", eleves_xml(good + bad)),
    ])
    people_report = reports[1]
    reasons = [p.reason for p in people_report.problems]
    assert reasons.count("NOM and PRENOM are required") == 8
    assert "person PERSONNE_ID 201 was rejected above: link not imported" in reasons
    assert "pupil ELEVE_ID 50 was rejected above: link not imported" in reasons
    assert not any("not in PERSONNES" in r or "import the pupils file" in r for r in reasons)
    # 17 rows not imported, but 8 people and 1 pupil at fault: below the refusal threshold.
    assert people_report.error is None and people_report.rejected == 17
    assert people_report.details["links_created"] == 9


def test_onde_rejected_pupil_rows_keep_the_pupil_and_say_so_in_links(app, run_import,
                                                                     tmp_path):
    sample = EXAMPLES / "onde" / ECOLE / "CSVExtraction.csv"
    people = EXAMPLES / "onde" / ECOLE / "CSVExtractionResponsables.csv"
    typo = write(tmp_path / "CSVExtraction.csv", sample.read_text(encoding="iso-8859-15")
                 .replace("14/02/2016", "14/02/16"))
    # First import: Lina's row is rejected, so her parents' links say why they are not made.
    reports = run_import([typo, people], fmt="onde", uai=ECOLE)
    reasons = [p.reason for p in reports[1].problems]
    assert reasons == ["pupil LEGRAND Lina was rejected above: link not imported"] * 2
    # Once imported, a later rejected row keeps her: not left, her parents still linked.
    run_import([sample, people], fmt="onde", uai=ECOLE)
    links_before = links_by_source(app)
    reports = run_import([typo, people], fmt="onde", uai=ECOLE)
    assert (reports[0].rejected, reports[0].left) == (1, 0)
    assert pupils_left(app)["1609000001A"] is False
    assert links_by_source(app) == links_before and reports[1].rejected == 0


# --- Guards on what a file may undo ---------------------------------------------------


def test_a_file_marking_most_of_a_school_as_left_is_refused_unless_allowed(
        app, run_import, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    run_import([write(path, eleves_xml(FOUR))])
    before = snapshot(app, skip=RESERVED)
    [report] = run_import([write(path, eleves_xml(FOUR[:1]))], refused_ok=True)
    assert report.error == (
        f"{path}: 3 of the 4 current pupils of {COLLEGE} are not in the file and would be "
        "marked as having left: the file is refused (if they really left, import it again "
        f"with --allow-mass-departure {COLLEGE})"
    )
    assert snapshot(app, skip=RESERVED) == before
    # Half of the school leaving is a plausible year (the last level leaves)...
    [report] = run_import([write(path, eleves_xml(FOUR[:2]))])
    assert report.left == 2
    # ...and the operator may confirm a larger departure (a school closing).
    [report] = run_import([write(path, eleves_xml(FOUR[:1]))], allow_mass_departure={COLLEGE})
    assert report.left == 1 and sum(pupils_left(app).values()) == 3


def test_a_representatives_file_cutting_most_families_off_is_refused_unless_allowed(
        app, run_import, tmp_path):
    eleves, resp = tmp_path / "ElevesSansAdresses.xml", tmp_path / "Responsables.xml"
    run_import([write(eleves, eleves_xml(FOUR)),
                write(resp, responsables_xml(PARENTS, PARENT_LINKS))])
    before = snapshot(app, skip=RESERVED)
    # A truncated export: Paul alone, with one of his two children.
    [report] = run_import([write(resp, responsables_xml(PARENTS[:1], PARENT_LINKS[:1]))],
                          refused_ok=True)
    assert report.error == (
        f"{resp}: 4 of the 5 legal links to current pupils of {COLLEGE} are not in the "
        "file and would be removed: the file is refused (if these families really "
        f"changed, import it again with --allow-mass-departure {COLLEGE})"
    )
    assert snapshot(app, skip=RESERVED) == before
    # Links to pupils who have left go freely: Bruno and Chloé leave, then their links.
    run_import([write(eleves, eleves_xml([FOUR[0], FOUR[3]]))])
    [report] = run_import([write(resp, responsables_xml(PARENTS, PARENT_LINKS[:2]
                                                        + PARENT_LINKS[4:]))])
    assert report.details["links_removed"] == 2 and report.removed == 1  # Luc
    # The operator may confirm that most families changed.
    [report] = run_import([write(resp, responsables_xml(PARENTS[:1], PARENT_LINKS[:1]))],
                          allow_mass_departure={COLLEGE})
    assert report.details["links_removed"] == 2
    assert links_by_source(app) == {(f"siecle:{COLLEGE}:10", "111111111AA", 1)}


def test_a_file_without_a_school_year_cannot_follow_one_with_a_year(app, run_import, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    # Without a year known for the school, the year stays unknown.
    [report] = run_import([write(path, eleves_xml(FOUR, year=""))])
    assert report.year is None
    [report] = run_import([write(path, eleves_xml(FOUR, year=2025))])
    assert report.year == 2025
    before = snapshot(app, skip=RESERVED)
    [report] = run_import([write(path, eleves_xml(FOUR[:3], year=""))], refused_ok=True)
    assert report.error == (
        f"{path}: ANNEE_SCOLAIRE is missing or unreadable: the file cannot be checked "
        f"against the 2025 data already imported for {COLLEGE}"
    )
    assert snapshot(app, skip=RESERVED) == before


# --- The database refusing a file -----------------------------------------------------


def test_a_file_the_database_refuses_is_rolled_back_and_the_next_files_import(
        app, run_import, monkeypatch):
    learn = importer._PupilsJob._learn_school_names

    def duplicate_school(self):
        # A constraint the database enforces, broken half-way through the collège's file.
        if self.report.uai == COLLEGE:
            self.conn.execute(insert(School.__table__).values(
                uai=COLLEGE, name="", created_at=self.now, updated_at=self.now))
        learn(self)

    monkeypatch.setattr(importer._PupilsJob, "_learn_school_names", duplicate_school)
    before = snapshot(app, skip=RESERVED)
    reports = run_import([EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml",
                          EXAMPLES / "siecle" / LYCEE / "ElevesSansAdresses.xml",
                          EXAMPLES / "siecle" / LYCEE / "ResponsablesSansAdresses.xml"],
                         refused_ok=True)
    refused, lycee, people = reports
    assert refused.error.startswith(
        f"{EXAMPLES / 'siecle' / COLLEGE / 'ElevesSansAdresses.xml'}: the database refused "
        "the file while writing schools ("
    )
    assert refused.error.endswith("); nothing from it was imported")
    assert (refused.uai, refused.year, refused.created) == (COLLEGE, 2025, 0)
    assert (lycee.error, lycee.created, people.error) == (None, 4, None)
    assert {p["uai"] for p in pupils_by_ine(app).values()} == {LYCEE}
    after = snapshot(app, skip=RESERVED)
    assert after["pupils"] != before["pupils"]


def test_over_long_values_never_stop_the_next_files(app, run_import, tmp_path):
    # Column limits: CODE_MEF 11, class 64, e-mail 254. PostgreSQL enforces them; a value
    # beyond is either a rejected row or a refused file, never an exception.
    eleves = write(tmp_path / "ElevesSansAdresses.xml", eleves_xml(
        [pupil(mef="103100191101", division="3" * 65)] + FOUR[1:], uai=LYCEE))
    reports = run_import([eleves, EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml"],
                         refused_ok=True)
    assert reports[0].error is None or "the database refused the file" in reports[0].error
    assert (reports[1].error, reports[1].created) == (None, 6)
