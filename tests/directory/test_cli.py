"""`idp directory`: import with a summary, clients' allow-lists, counts."""

import os
import subprocess
import sys

from sqlalchemy.exc import DataError

from idp.directory import importer
from idp.directory.cli import directory
from idp.directory.codes import make_uai
from tests.directory.builders import eleves_xml
from tests.directory.builders import pupil
from tests.directory.conftest import COLLEGE
from tests.directory.conftest import ECOLE
from tests.directory.conftest import EXAMPLES
from tests.directory.conftest import LYCEE
from tests.directory.conftest import onde_files
from tests.directory.conftest import siecle_files


def test_import_prints_a_json_summary_per_file_and_totals(idp_directory):
    result, data = idp_directory("import", "--format", "siecle", *map(str, siecle_files()))
    assert result.exit_code == 0, result.output
    assert [f["kind"] for f in data["files"]] == [
        "nomenclature", "eleves", "eleves", "responsables", "responsables"
    ]
    assert data["totals"]["created"] == 7 + 4 + 6 + 6 + 8
    assert data["totals"]["files_refused"] == 0
    result, data = idp_directory("import", "--format", "onde", "--uai", ECOLE,
                                 *map(str, onde_files()))
    assert data["totals"]["created"] == 4 + 6


def test_import_text_summary_lists_bad_rows_and_fails_on_a_refused_file(idp_directory,
                                                                        tmp_path):
    bad = tmp_path / "ElevesSansAdresses.xml"
    bad.write_text('<?xml version="1.0"?><BEE_ELEVES><PARAMETRES><UAJ>0830901X</UAJ>'
                   "</PARAMETRES></BEE_ELEVES>")
    result, _ = idp_directory("import", "--format", "siecle", str(bad),
                              str(EXAMPLES / "siecle" / "Nomenclature.xml"), as_json=False)
    assert result.exit_code == 1
    assert f"REFUSED: {bad}: UAI '0830901X': wrong key letter" in result.output
    assert "Nomenclature.xml (nomenclature): 7 created" in result.output


def test_a_school_name_needs_the_uai_it_names(idp_directory):
    result, _ = idp_directory("import", "--format", "siecle", "--school-name", "Collège",
                              *map(str, siecle_files()), as_json=False)
    assert result.exit_code == 2 and "--school-name names the school given by --uai" in \
        result.output


def test_allow_manages_a_clients_scopes_restricted_claims_and_profile(idp_directory,
                                                                      make_client):
    client_id = make_client()["client_id"]
    result, data = idp_directory("allow", client_id, "--scope", "school children",
                                 "--claim", "ine", "--profile", "educonnect")
    assert result.exit_code == 0, result.output
    assert data["scopes"][-2:] == ["school", "children"]
    assert (data["claims"], data["profile"]) == (["ine"], "educonnect")
    _, data = idp_directory("allow", client_id, "--remove", "--scope", "children",
                            "--claim", "ine", "--profile", "none")
    assert "children" not in data["scopes"] and "school" in data["scopes"]
    assert (data["claims"], data["profile"]) == ([], None)


def test_allow_refuses_unknown_scopes_claims_profiles_and_clients(idp_directory,
                                                                 make_client):
    client_id = make_client()["client_id"]
    for args, message in [
        (("--scope", "everything"), "unknown scope 'everything'"),
        (("--claim", "email"), "'email' is not a restricted claim"),
        (("--profile", "franceconnect"), "unknown profile 'franceconnect'"),
    ]:
        result, _ = idp_directory("allow", client_id, *args)
        assert result.exit_code == 1 and message in result.output
    result, _ = idp_directory("allow", "nobody", "--scope", "school")
    assert "no client nobody" in result.output


def test_stats_counts_the_directory(idp_directory, examples_imported):
    result, data = idp_directory("stats")
    assert result.exit_code == 0
    assert data["pupils"] == {"1d_present": 4, "2d_present": 10}
    assert data["pupil_accounts"] == {"provisional": 14}
    assert data["identities_across_academies"] == 2  # Sophie and Thomas
    assert data["academies"] == 2 and data["schools"] == 3


def test_the_group_is_named_directory():
    assert directory.name == "directory"
    assert set(directory.commands) == {"import", "allow", "stats"}


def test_mass_departures_need_the_operators_option(idp_directory, tmp_path):
    path = tmp_path / "ElevesSansAdresses.xml"
    four = [pupil(eleve_id=str(i), ine=f"{i:09d}AB") for i in range(1, 5)]
    path.write_text(eleves_xml(four), encoding="iso-8859-15")
    idp_directory("import", "--format", "siecle", str(path))
    path.write_text(eleves_xml(four[:1]), encoding="iso-8859-15")
    result, _ = idp_directory("import", "--format", "siecle", str(path), as_json=False)
    assert result.exit_code == 1
    assert "3 of the 4 current pupils of 0830901D are not in the file" in result.output
    result, data = idp_directory("import", "--format", "siecle", "--allow-mass-departure",
                                 "0830901d", str(path))
    assert result.exit_code == 0 and data["totals"]["left"] == 3


def test_a_file_the_database_refuses_is_reported_and_the_next_ones_import(
        idp_directory, monkeypatch):
    def refuse(self):
        # What PostgreSQL does with a value too long for its column, on any database.
        raise DataError("UPDATE pupils SET division=%(division)s", {},
                        Exception("value too long for type character varying(64)"))

    monkeypatch.setattr(importer._PupilsJob, "_mark_left", refuse)
    collège = EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml"
    result, _ = idp_directory("import", "--format", "siecle", str(collège),
                              str(EXAMPLES / "siecle" / "Nomenclature.xml"), as_json=False)
    assert result.exit_code == 1
    assert f"REFUSED: {collège}: the database refused the file while writing pupils " \
        "(Exception: value too long for type character varying(64)); nothing from it was " \
        "imported" in result.output
    assert "Nomenclature.xml (nomenclature): 7 created" in result.output
    assert "Traceback" not in result.output


def test_mass_departure_names_schools_by_valid_uai(idp_directory):
    collège = str(EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml")
    for value, message in [
        ("collège", "--allow-mass-departure: UAI 'collège': 7 digits and a letter expected"),
        ("0830901X", "--allow-mass-departure: UAI '0830901X': wrong key letter (expected D)"),
    ]:
        result, _ = idp_directory("import", "--format", "siecle", "--allow-mass-departure",
                                  value, collège, as_json=False)
        assert result.exit_code == 2 and message in result.output
        assert "created" not in result.output  # nothing imported


def test_mass_departure_of_a_school_neither_imported_nor_in_the_directory_is_refused(
        idp_directory):
    collège = str(EXAMPLES / "siecle" / COLLEGE / "ElevesSansAdresses.xml")
    misspelt = make_uai("0830902")  # a well-formed UAI, of no school here
    result, _ = idp_directory("import", "--format", "siecle", "--allow-mass-departure",
                              misspelt, collège, as_json=False)
    assert result.exit_code == 2
    assert (f"--allow-mass-departure {misspelt}: no school with this UAI in the directory "
            "nor in the files imported") in result.output
    _, stats = idp_directory("stats")
    assert stats["schools"] == 0
    # The school of a file being imported (not yet in the directory) is accepted...
    result, data = idp_directory("import", "--format", "siecle", "--allow-mass-departure",
                                 COLLEGE.lower(), collège)
    assert result.exit_code == 0 and data["totals"]["created"] == 6
    # ...and so is a school of the directory, whatever the files.
    result, data = idp_directory("import", "--format", "onde", "--uai", ECOLE,
                                 "--allow-mass-departure", COLLEGE, *map(str, onde_files()))
    assert result.exit_code == 0, result.output
    # ONDE files name their school with --uai.
    result, data = idp_directory("import", "--format", "onde", "--uai", ECOLE,
                                 "--allow-mass-departure", ECOLE, *map(str, onde_files()))
    assert result.exit_code == 0, result.output
    result, _ = idp_directory("import", "--format", "onde", "--uai", ECOLE,
                              "--allow-mass-departure", LYCEE, *map(str, onde_files()),
                              as_json=False)
    assert result.exit_code == 2 and f"--allow-mass-departure {LYCEE}: no school" in \
        result.output


def test_the_module_runs_as_a_command_on_its_own(tmp_path):
    # `python -m idp.directory.cli`, as the import benchmark runs it: the whole module is
    # defined before the command starts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_VAR_DIR=str(tmp_path), IDP_ENV="development")
    command = [sys.executable, "-m", "idp.directory.cli"]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    result = subprocess.run([*command, "directory", "import", "--format", "siecle",
                             "--allow-mass-departure", COLLEGE, *map(str, siecle_files())],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nomenclature.xml (nomenclature): 7 created" in result.stdout
