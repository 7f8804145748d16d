"""Small SIECLE and ONDE files written by tests, for cases the samples do not cover."""

from __future__ import annotations

from xml.sax.saxutils import escape


def pupil(eleve_id="1", ine="123456789AB", family="MARTIN", given="Jean", born="01/02/2012",
          sex="1", mef="10310019110", division="3A", exit_date="", entry_date=""):
    """One pupil of an ElevesSansAdresses file (dict consumed by eleves_xml)."""
    return dict(eleve_id=eleve_id, ine=ine, family=family, given=given, born=born, sex=sex,
                mef=mef, division=division, exit_date=exit_date, entry_date=entry_date)


def eleves_xml(pupils, uai="0830901D", year=2025, encoding="ISO-8859-15",
               declaration=True) -> str:
    """An ElevesSansAdresses.xml document."""
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n' if declaration else ""
    rows = []
    for p in pupils:
        rows.append(
            f'<ELEVE ELEVE_ID="{p["eleve_id"]}"><ID_NATIONAL>{p["ine"]}</ID_NATIONAL>'
            f'<NOM_DE_FAMILLE>{escape(p["family"])}</NOM_DE_FAMILLE>'
            f'<PRENOM>{escape(p["given"])}</PRENOM><DATE_NAISS>{p["born"]}</DATE_NAISS>'
            f'<CODE_SEXE>{p["sex"]}</CODE_SEXE><CODE_MEF>{p["mef"]}</CODE_MEF>'
            f'<DATE_ENTREE>{p["entry_date"]}</DATE_ENTREE>'
            f'<DATE_SORTIE>{p["exit_date"]}</DATE_SORTIE></ELEVE>'
        )
    structures = "".join(
        f'<STRUCTURES_ELEVE ELEVE_ID="{p["eleve_id"]}"><STRUCTURE><CODE_STRUCTURE>'
        f'{p["division"]}</CODE_STRUCTURE><TYPE_STRUCTURE>D</TYPE_STRUCTURE></STRUCTURE>'
        "</STRUCTURES_ELEVE>\n"
        for p in pupils if p["division"]
    )
    return (
        f'{head}<BEE_ELEVES VERSION="2.1">\n<PARAMETRES><UAJ>{uai}</UAJ>'
        f"<ANNEE_SCOLAIRE>{year}</ANNEE_SCOLAIRE></PARAMETRES>\n<DONNEES>\n<ELEVES>\n"
        + "\n".join(rows)
        + f"\n</ELEVES>\n<STRUCTURES>\n{structures}</STRUCTURES>\n</DONNEES>\n</BEE_ELEVES>\n"
    )


def person(personne_id="10", birth="MARTIN", given="Paul", mobile="0612345678", civ="M.",
           usage=""):
    """One PERSONNE of a Responsables file."""
    return dict(id=personne_id, birth=birth, given=given, mobile=mobile, civ=civ, usage=usage)


def responsables_xml(people, links, uai="0830901D", year=2025) -> str:
    """A ResponsablesSansAdresses.xml document; links are (ELEVE_ID, PERSONNE_ID, level)."""
    persons = "".join(
        f'<PERSONNE PERSONNE_ID="{p["id"]}"><NOM_DE_FAMILLE>{escape(p["birth"])}'
        f'</NOM_DE_FAMILLE><NOM_USAGE>{escape(p["usage"])}</NOM_USAGE>'
        f'<PRENOM>{escape(p["given"])}</PRENOM><LC_CIVILITE>{p["civ"]}</LC_CIVILITE>'
        f'<TEL_PORTABLE>{p["mobile"]}</TEL_PORTABLE></PERSONNE>\n'
        for p in people
    )
    resp = "".join(
        f"<RESPONSABLE_ELEVE><ELEVE_ID>{e}</ELEVE_ID><PERSONNE_ID>{pid}</PERSONNE_ID>"
        f"<RESP_LEGAL>{level}</RESP_LEGAL></RESPONSABLE_ELEVE>\n"
        for e, pid, level in links
    )
    return (
        '<?xml version="1.0" encoding="ISO-8859-15"?>\n<BEE_RESPONSABLES>\n'
        f"<PARAMETRES><UAJ>{uai}</UAJ><ANNEE_SCOLAIRE>{year}</ANNEE_SCOLAIRE></PARAMETRES>\n"
        f"<DONNEES>\n<PERSONNES>\n{persons}</PERSONNES>\n<RESPONSABLES>\n{resp}"
        "</RESPONSABLES>\n</DONNEES>\n</BEE_RESPONSABLES>\n"
    )


ONDE_PUPILS_HEADER = ("Nom élève;Nom d'usage élève;Prénom élève;Date naissance;Sexe;INE;"
                      "Cycle;Niveau;Libellé classe;Identifiant classe")


def onde_pupils_csv(rows, header=ONDE_PUPILS_HEADER) -> str:
    """An ONDE pupils extraction; rows are (family, given, born, sex, ine, level, class)."""
    lines = [header]
    for family, given, born, sex, ine, level, klass in rows:
        lines.append(f"{family};;{given};{born};{sex};{ine};CYCLE II;{level};{klass};1")
    return "\r\n".join(lines) + "\r\n"
