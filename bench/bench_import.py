"""Directory import benchmark: a generated SIECLE export, imported into a fresh SQLite file.

`run(report)` generates the files of 100 schools in two académies (100,000 pupils and
160,000 representative records, siblings spread over schools and académies), runs
`idp db upgrade` then `idp directory import --format siecle` as a child process pinned to
one core, and records its wall time and peak RSS (the child's own `ru_maxrss`, from
`os.wait4`). It then builds the claims of a parent with 5 confirmed children, and of a
pupil, many times in-process and records the median.

    python -m bench.bench_import          # prints the numbers as JSON
    BENCH_QUICK=1 python -m bench.bench_import   # a small smoke run

Targets (issue 3): import under 60 s and under 300 MB peak RSS.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
PUPILS = 100_000
PEOPLE = 160_000
SCHOOLS = 100
CLAIMS_CALLS = 2_000

FAMILY_NAMES = [
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
    "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID", "BERTRAND",
    "MOREL", "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU",
    "VINCENT", "MÜLLER", "LE GALL", "FAURÉ", "ANDRÉ", "MERCIER", "BLANC", "GUÉRIN", "BOYER",
    "GARNIER", "CHEVALIER", "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN",
    "CLÉMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON",
]
GIVEN_NAMES = [
    "Jade", "Louise", "Emma", "Ambre", "Alice", "Rose", "Anna", "Alba", "Romy", "Mia",
    "Léo", "Gabriel", "Raphaël", "Arthur", "Louis", "Jules", "Adam", "Maël", "Lucas", "Hugo",
    "Chloé", "Inès", "Léna", "Zoé", "Éloïse", "Noah", "Tom", "Sacha", "Nathan", "Éthan",
]
PARENT_NAMES = [
    "Sophie", "Nathalie", "Isabelle", "Sandrine", "Céline", "Aurélie", "Julie", "Hélène",
    "Thomas", "Nicolas", "Julien", "Sébastien", "Olivier", "Jean-Pierre", "Éric", "Karim",
]
LEVELS = [("10010012110", "6EME", "21110010011"), ("10110001110", "5EME", "21120010011"),
          ("10210001110", "4EME", "21150010011"), ("10310019110", "3EME", "21160010019"),
          ("20010018110", "2NDE", "22110010018"), ("20110019110", "1ERE", "22120010019"),
          ("20210019110", "TERMINALE", "22130010019")]


def _uai(digits: str) -> str:
    return digits + "ABCDEFGHJKLMNPRSTUVWXYZ"[int(digits) % 23]


def _family_sizes(rng: random.Random, pupils: int) -> list[int]:
    sizes, total = [5], 5  # family 0: the parent whose claims are measured
    while total < pupils:
        size = rng.choices([1, 2, 3, 4, 5], weights=[60, 25, 10, 4, 1])[0]
        size = min(size, pupils - total)
        sizes.append(size)
        total += size
    return sizes


def generate(directory: Path, pupils: int = PUPILS, people: int = PEOPLE,
             schools: int = SCHOOLS, seed: int = 2025) -> dict:
    """Write a SIECLE export (one pupils and one representatives file per school)."""
    rng = random.Random(seed)
    half = schools // 2
    uais = [_uai(f"0830{i:03d}") for i in range(half)]  # collèges, académie de Nice
    uais += [_uai(f"0130{i:03d}") for i in range(schools - half)]  # lycées, Aix-Marseille
    per_school: dict[str, dict] = {u: {"pupils": [], "people": {}, "links": []} for u in uais}
    legal_records = 0
    pupil_index = 0
    for family, size in enumerate(_family_sizes(rng, pupils)):
        name = rng.choice(FAMILY_NAMES)
        parents = [(rng.choice(PARENT_NAMES[:8]), "MME")]
        if family == 0 or rng.random() < 0.5:
            parents.append((rng.choice(PARENT_NAMES[8:]), "M."))
        mobiles = [None if rng.random() < 0.05 and family else f"06{family:06d}{i}{i}"
                   for i in range(len(parents))]
        # Family 0 spreads its five children over five schools of both académies.
        homes = [uais[0], uais[1], uais[half], uais[half + 1], uais[2]] if family == 0 else [
            rng.choice(uais) for _ in range(size)
        ]
        for child in range(size):
            uai = homes[child]
            school = per_school[uai]
            level = rng.randrange(4) if uai[:3] == "083" else 4 + rng.randrange(3)
            eleve_id = str(100000 + pupil_index)
            school["pupils"].append((
                eleve_id, f"{pupil_index:09d}{chr(65 + family % 26)}{chr(65 + child)}", name,
                rng.choice(GIVEN_NAMES), f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/"
                f"{2008 + level + rng.randrange(2)}", 1 + rng.randrange(2), level,
                f"{LEVELS[level][1][:1]}{rng.choice('ABCDEF')}",
            ))
            pupil_index += 1
            for p, ((given, civ), mobile) in enumerate(zip(parents, mobiles, strict=True)):
                person_id = f"{family}-{p}"
                if person_id not in school["people"]:
                    school["people"][person_id] = (name, given, civ, mobile or "")
                    legal_records += 1
                school["links"].append((eleve_id, person_id, str(p + 1)))
    # Grandparents and other contacts (RESP_LEGAL 0) fill the files up to `people` records.
    contact = 0
    while legal_records + contact < people:
        uai = uais[contact % len(uais)]
        school = per_school[uai]
        eleve_id = school["pupils"][contact % len(school["pupils"])][0]
        person_id = f"c{contact}"
        school["people"][person_id] = (rng.choice(FAMILY_NAMES), "Contact", "MME", "")
        school["links"].append((eleve_id, person_id, "0"))
        contact += 1
    files = [directory / "Nomenclature.xml"]
    _write_nomenclature(files[0])
    for uai, school in per_school.items():
        files.append(_write_pupils(directory / uai, uai, school["pupils"]))
        files.append(_write_people(directory / uai, uai, school["people"], school["links"]))
    return {
        "files": [str(f) for f in files], "pupils": pupil_index,
        "representatives": legal_records + contact, "legal_records": legal_records,
        "schools": len(uais), "bytes": sum(f.stat().st_size for f in files),
        "parent": {"name": per_school[uais[0]]["people"]["0-0"]},
    }


def _write(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="iso-8859-15", newline="\n") as fh:
        fh.write('<?xml version="1.0" encoding="ISO-8859-15"?>\n')
        fh.writelines(lines)
    return path


def _write_nomenclature(path: Path) -> None:
    mefs = (
        f'<MEF CODE_MEF="{code}"><FORMATION>{label}</FORMATION><LIBELLE_LONG>{label}'
        f"</LIBELLE_LONG><CODE_MEFSTAT>{stat}</CODE_MEFSTAT></MEF>\n"
        for code, label, stat in LEVELS
    )
    _write(path, ["<BEE_NOMENCLATURES><DONNEES><MEFS>\n", *mefs,
                  "</MEFS></DONNEES></BEE_NOMENCLATURES>\n"])


def _write_pupils(directory: Path, uai: str, pupils: list) -> Path:
    def lines():
        yield (f'<BEE_ELEVES VERSION="2.1">\n<PARAMETRES><UAJ>{uai}</UAJ><ANNEE_SCOLAIRE>2025'
               "</ANNEE_SCOLAIRE><HORODATAGE>01/09/2025 08:00:00</HORODATAGE></PARAMETRES>\n"
               "<DONNEES>\n<ELEVES>\n")
        for eleve_id, ine, family, given, born, sex, level, _ in pupils:
            yield (
                f'<ELEVE ELEVE_ID="{eleve_id}" ELENOET="{eleve_id[-5:]}">\n'
                f"  <ID_NATIONAL>{ine}</ID_NATIONAL>\n  <ELENOET>{eleve_id[-5:]}</ELENOET>\n"
                f"  <NOM>{escape(family)}</NOM>\n  <NOM_DE_FAMILLE>{escape(family)}"
                f"</NOM_DE_FAMILLE>\n  <NOM_USAGE/>\n  <PRENOM>{escape(given)}</PRENOM>\n"
                f"  <PRENOM2/>\n  <DATE_NAISS>{born}</DATE_NAISS>\n"
                f"  <CODE_SEXE>{sex}</CODE_SEXE>\n  <CODE_PAYS>100</CODE_PAYS>\n"
                f"  <VILLE_NAISS>TOULON</VILLE_NAISS>\n  <CODE_MEF>{LEVELS[level][0]}</CODE_MEF>\n"
                "  <CODE_STATUT>ST</CODE_STATUT>\n  <CODE_REGIME>2</CODE_REGIME>\n"
                "  <DOUBLEMENT>N</DOUBLEMENT>\n  <DATE_ENTREE>01/09/2025</DATE_ENTREE>\n"
                "  <DATE_SORTIE/>\n  <MEL/>\n</ELEVE>\n"
            )
        yield "</ELEVES>\n<STRUCTURES>\n"
        for eleve_id, *_, division in pupils:
            yield (f'<STRUCTURES_ELEVE ELEVE_ID="{eleve_id}"><STRUCTURE><CODE_STRUCTURE>'
                   f"{division}</CODE_STRUCTURE><TYPE_STRUCTURE>D</TYPE_STRUCTURE>"
                   "</STRUCTURE></STRUCTURES_ELEVE>\n")
        yield "</STRUCTURES>\n</DONNEES>\n</BEE_ELEVES>\n"

    return _write(directory / "ElevesSansAdresses.xml", lines())


def _write_people(directory: Path, uai: str, people: dict, links: list) -> Path:
    def lines():
        yield (f"<BEE_RESPONSABLES>\n<PARAMETRES><UAJ>{uai}</UAJ><ANNEE_SCOLAIRE>2025"
               "</ANNEE_SCOLAIRE></PARAMETRES>\n<DONNEES>\n<PERSONNES>\n")
        for n, (person_id, (family, given, civ, mobile)) in enumerate(people.items()):
            yield (
                f'<PERSONNE PERSONNE_ID="{n + 1}{person_id.replace("-", "0").replace("c", "9")}">\n'
                f"  <NOM>{escape(family)}</NOM>\n  <NOM_DE_FAMILLE>{escape(family)}"
                f"</NOM_DE_FAMILLE>\n  <NOM_USAGE/>\n  <PRENOM>{escape(given)}</PRENOM>\n"
                f"  <LC_CIVILITE>{civ}</LC_CIVILITE>\n  <TEL_PERSONNEL/>\n"
                f"  <TEL_PORTABLE>{mobile}</TEL_PORTABLE>\n  <TEL_PROFESSIONNEL/>\n  <MEL/>\n"
                f"  <ACCEPTE_SMS>{1 if mobile else 0}</ACCEPTE_SMS>\n</PERSONNE>\n"
            )
        yield "</PERSONNES>\n<RESPONSABLES>\n"
        ids = {pid: f'{n + 1}{pid.replace("-", "0").replace("c", "9")}'
               for n, pid in enumerate(people)}
        for eleve_id, person_id, level in links:
            yield (f"<RESPONSABLE_ELEVE><ELEVE_ID>{eleve_id}</ELEVE_ID><PERSONNE_ID>"
                   f"{ids[person_id]}</PERSONNE_ID><RESP_LEGAL>{level}</RESP_LEGAL>"
                   "<PERS_CONTACT>1</PERS_CONTACT></RESPONSABLE_ELEVE>\n")
        yield "</RESPONSABLES>\n</DONNEES>\n</BEE_RESPONSABLES>\n"

    return _write(directory / "ResponsablesSansAdresses.xml", lines())


def _environment(work: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "IDP_ENV": "development", "IDP_DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "IDP_VAR_DIR": str(work / "var"), "IDP_SECRET_KEY": "bench-" + "k" * 40,
        "IDP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
    })
    env.pop("IDP_CONFIG", None)
    return env


def _idp(*args) -> list[str]:
    # Through idp.directory.cli, which adds the `directory` group to `idp` if needed.
    return [sys.executable, "-m", "idp.directory.cli", *args]


def measure_import(files: list[str], env: dict, work: Path) -> dict:
    """Run the import in a child process on one core; wall time, CPU and peak RSS."""
    subprocess.run(_idp("db", "upgrade"), env=env, check=True, capture_output=True, cwd=ROOT)
    out_path = work / "import.json"
    with open(out_path, "w") as out, open(work / "import.err", "w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            _idp("--json", "directory", "import", "--format", "siecle", *files),
            env=env, stdout=out, stderr=err, cwd=ROOT,
        )
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(child.pid, {sorted(os.sched_getaffinity(0))[0]})
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):
        raise RuntimeError(f"import failed: {(work / 'import.err').read_text()[-2000:]}")
    summary = json.loads(out_path.read_text())
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "totals": summary["totals"],
        "accounts_created": sum(
            f["details"].get("accounts_created", 0) for f in summary["files"]
        ),
        "links_created": sum(f["details"].get("links_created", 0) for f in summary["files"]),
    }


def measure_claims(env: dict, parent: tuple, calls: int = CLAIMS_CALLS) -> dict:
    """Median time to build a parent's (5 children) and a pupil's claims, in µs."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from sqlalchemy import select

        from idp.app import create_app
        from idp.directory import claims as directory_claims
        from idp.directory import family
        from idp.directory.models import Pupil
        from idp.extensions import db
        from idp.models import Account
        from idp.oauth import claims as mapper
        from idp.services import clients

        directory_claims.register()
        app = create_app()
        with app.app_context():
            family_name, given, _, mobile = parent
            identity = family.find_identity(family_name, given, mobile)
            account = family.create_parent_account(identity)
            pupils = [p for p, _ in family.proposed_children(account)]
            for pupil in pupils:
                family.confirm_child(account, pupil)
            client, _ = clients.register(
                name="Bench", redirect_uris=["https://bench.example.org/cb"],
                scopes=["openid", "profile", "school", "children"],
            )
            db.session.commit()
            child = db.session.get(Account, db.session.execute(
                select(Pupil.account_id).where(Pupil.id == pupils[0].id)
            ).scalar_one())

            def timed(who, scopes):
                samples = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    ctx = mapper.ClaimsContext(account=who, client=client, sub="bench")
                    result = mapper.build(ctx, scopes)
                    samples.append(time.perf_counter() - t0)
                return result, statistics.median(samples) * 1e6

            parent_claims, parent_us = timed(account, ["openid", "profile", "children"])
            pupil_claims, pupil_us = timed(child, ["openid", "profile", "school"])
        return {
            "children": len(parent_claims.get("children", [])),
            "academies_of_children": sorted({c["school_uai"][:3] for c in
                                             parent_claims.get("children", [])}),
            "parent_5_children_median_us": round(parent_us, 1),
            "pupil_school_median_us": round(pupil_us, 1),
            "pupil_claims": sorted(pupil_claims),
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(report) -> dict:
    """Generate, import, measure; record the numbers in `report` (a dict) and return them."""
    quick = bool(os.environ.get("BENCH_QUICK"))
    pupils, people, schools = (2_000, 3_200, 10) if quick else (PUPILS, PEOPLE, SCHOOLS)
    work = Path(tempfile.mkdtemp(prefix="idp-bench-import-"))
    try:
        t0 = time.perf_counter()
        generated = generate(work / "export", pupils, people, schools)
        generation_s = time.perf_counter() - t0
        env = _environment(work)
        imported = measure_import(generated["files"], env, work)
        load = [round(x, 1) for x in os.getloadavg()]
        claims = measure_claims(env, generated["parent"]["name"],
                                calls=200 if quick else CLAIMS_CALLS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "pupils": generated["pupils"], "representatives": generated["representatives"],
        "legal_representative_records": generated["legal_records"],
        "schools": generated["schools"], "files": len(generated["files"]),
        "export_mb": round(generated["bytes"] / 1e6, 1), "generation_s": round(generation_s, 1),
        "import_wall_s": imported["wall_s"], "import_cpu_s": imported["cpu_s"],
        "import_peak_rss_mb": imported["peak_rss_mb"],
        "pupils_per_s": round(generated["pupils"] / imported["wall_s"]),
        "import_totals": imported["totals"], "accounts_created": imported["accounts_created"],
        "links_created": imported["links_created"],
        "claims_parent_5_children_median_us": claims["parent_5_children_median_us"],
        "claims_pupil_school_median_us": claims["pupil_school_median_us"],
        "claims_children_released": claims["children"],
        "load_average": load,
    }
    report.update(results)
    if hasattr(report, "add"):
        report.add("import wall time", imported["wall_s"], "s", target="< 60 s",
                   note=f"{generated['pupils']:,} pupils, {generated['representatives']:,} "
                        f"representatives, {len(generated['files'])} files, one core, SQLite")
        report.add("import peak RSS", imported["peak_rss_mb"], "MB", target="< 300 MB",
                   note="ru_maxrss of the import process alone (os.wait4)")
        report.add("import CPU time", imported["cpu_s"], "s")
        report.add("claims, parent with 5 children (median)",
                   claims["parent_5_children_median_us"], "µs",
                   note="claims_mapper.build for openid profile children, in-process")
        report.add("claims, pupil with school (median)", claims["pupil_school_median_us"], "µs")
        report.note(f"Export generated in {generation_s:.1f} s ({results['export_mb']} MB, "
                    "ISO-8859-15), not counted in the import time.")
        report.note(f"Load average during the import: {results['load_average']} (on "
                    f"{os.cpu_count()} cores); on a busy machine the wall time of a process "
                    "pinned to one core exceeds its CPU time.")
    return results


if __name__ == "__main__":
    print(json.dumps(run({}), indent=2, ensure_ascii=False))
