"""What "Mes services" shows, computed from the claims only.

Claims used (when the provider releases them; every one is optional here):

- `affiliation`: "eleve" or "responsable" (scope `profile`); or, for a client
  registered with the EduConnect compatibility profile, `FrEduCtPersonAffiliation`
  (["eleve1d"], ["eleve2d"], ["resp1d", "resp2d"]...);
- `children` (scope `children`, parents): a list of objects with `sub` (the child's
  own `sub` at this service), `given_name`, `family_name`, `birthdate`, `school_uai`,
  `school_name`, `level` (MEFSTAT4, e.g. "2111" for 6e; second degree only) and
  `level_label` (the school's label: "4EME", "2NDE", "CE2"...);
- `school` (scope `school`, pupils): flat `school_uai`, `school_name`, `academie`,
  `class`, `level`, `level_label` claims (an object under `school` is read too); with
  the compatibility profile, `FrEduCtEleveUAI` and `FrEduCtEleveNiveau`.

The stage (école, collège, lycée) comes from the MEFSTAT4 level: 21xx is the collège,
other 2xxx the lycée; without a level (first degree), from the label or `degree`.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPAT_AFFILIATION = {
    "eleve1d": "eleve",
    "eleve2d": "eleve",
    "resp1d": "responsable",
    "resp2d": "responsable",
}

#: MEFSTAT4 levels people read as a class name.
LEVEL_LABELS = {
    "2111": "6e",
    "2112": "5e",
    "2115": "4e",
    "2116": "3e",
    "2211": "Seconde générale et technologique",
    "2212": "Première générale et technologique",
    "2213": "Terminale générale et technologique",
    "2381": "Seconde professionnelle",
    "2382": "Première professionnelle",
    "2383": "Terminale professionnelle",
}


#: Labels of the school files, as people read them (others are shown as they come).
LABEL_NAMES = {
    "6EME": "6e", "5EME": "5e", "4EME": "4e", "3EME": "3e",
    "2NDE": "Seconde", "1ERE": "Première", "TLE": "Terminale", "TERM": "Terminale",
    "TERMINALE": "Terminale", "TERMINALE GENERALE": "Terminale générale",
}
#: How labels without a level code begin, by stage.
LABEL_STAGES = (
    ("ecole", ("PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2", "ULIS ECOLE")),
    ("college", ("6EME", "5EME", "4EME", "3EME", "SEGPA")),
    ("lycee", ("2NDE", "1ERE", "TLE", "TERM", "TERMINALE", "CAP", "BAC PRO", "SECONDE",
               "PREMIERE")),
)


@dataclass(frozen=True)
class Service:
    """One online procedure ("démarche") or service offered to the person."""

    slug: str
    title: str
    description: str


BOURSE_COLLEGE = Service(
    "bourse-college", "Bourse de collège",
    "Demander une bourse pour la scolarité au collège.",
)
BOURSE_LYCEE = Service(
    "bourse-lycee", "Bourse de lycée",
    "Demander une bourse pour la scolarité au lycée.",
)
FICHE_RENSEIGNEMENTS = Service(
    "fiche-renseignements", "Fiche de renseignements",
    "Vérifier et mettre à jour les coordonnées connues de l'école ou de l'établissement.",
)
LIVRET_SCOLAIRE = Service(
    "livret-scolaire", "Livret scolaire",
    "Consulter mon livret scolaire : bilans périodiques et de fin de cycle.",
)
ALL_SERVICES = {s.slug: s for s in (BOURSE_COLLEGE, BOURSE_LYCEE, FICHE_RENSEIGNEMENTS,
                                    LIVRET_SCOLAIRE)}


@dataclass(frozen=True)
class Child:
    """A child a parent may act for, from the `children` claim."""

    id: str
    given_name: str
    family_name: str
    birthdate: str
    school_uai: str
    school_name: str
    level: str
    degree: str
    label: str = ""

    @property
    def name(self) -> str:
        """Given and family names."""
        return " ".join(p for p in (self.given_name, self.family_name) if p) or "Enfant"

    @property
    def stage(self) -> str | None:
        """"ecole", "college", "lycee" or None when the level is unknown."""
        return stage(self.level, self.degree, self.label)

    @property
    def level_label(self) -> str:
        """The class, as people name it."""
        return level_label(self.level, self.degree, self.label)

    def services(self) -> list[Service]:
        """The procedures a parent can start for this child."""
        found = []
        if self.stage == "college":
            found.append(BOURSE_COLLEGE)
        elif self.stage == "lycee":
            found.append(BOURSE_LYCEE)
        found.append(FICHE_RENSEIGNEMENTS)
        return found


def affiliation(userinfo: dict) -> str | None:
    """"eleve", "responsable", or None when the claims do not say."""
    value = userinfo.get("affiliation")
    if value in ("eleve", "responsable"):
        return value
    compat = userinfo.get("FrEduCtPersonAffiliation")
    if isinstance(compat, list):
        compat = compat[0] if compat else None
    if isinstance(compat, str) and compat in COMPAT_AFFILIATION:
        return COMPAT_AFFILIATION[compat]
    if isinstance(userinfo.get("children"), list):
        return "responsable"
    if school(userinfo):
        return "eleve"
    return None


def stage(level, degree=None, label=None) -> str | None:
    """School stage from a MEFSTAT4 level, else a degree ("1d") or a school label."""
    level = str(level or "").strip()
    if level.startswith("21") and len(level) == 4:
        return "college"
    if level[:1] == "2" and len(level) == 4:
        return "lycee"
    if degree == "1d" or (level[:1] == "1" and len(level) == 4):
        return "ecole"
    text = str(label or "").strip().upper()
    for name, starts in LABEL_STAGES:
        if any(text == s or text.startswith(s + " ") for s in starts):
            return name
    return None


def level_label(level, degree=None, label=None) -> str:
    """A readable class name for a level code (or the school's label)."""
    level = str(level or "").strip()
    label = str(label or "").strip()
    if level in LEVEL_LABELS:
        return LEVEL_LABELS[level]
    if label:
        return LABEL_NAMES.get(label.upper(), label)
    names = {"ecole": "École", "college": "Collège", "lycee": "Lycée"}
    found = stage(level, degree)
    if found and level:
        return f"{names[found]} (niveau {level})"
    if found:
        return names[found]
    return f"Niveau {level}" if level else "Niveau non communiqué"


def children(userinfo: dict) -> list[Child]:
    """The children of the `children` claim, ignoring malformed entries."""
    raw = userinfo.get("children")
    if not isinstance(raw, list):
        return []
    found = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            continue

        def text(key, item=item):
            value = item.get(key)
            return str(value) if isinstance(value, (str, int)) else ""

        found.append(Child(
            id=text("sub") or text("id") or str(index + 1),
            given_name=text("given_name"), family_name=text("family_name"),
            birthdate=text("birthdate"), school_uai=text("school_uai"),
            school_name=text("school_name"), level=text("level"), degree=text("degree"),
            label=text("level_label"),
        ))
    return found


def school(userinfo: dict) -> dict:
    """The pupil's school from the `school` claim (object) or flat claims."""
    value = userinfo.get("school")
    result = {}
    if isinstance(value, dict):
        result.update({k: str(v) for k, v in value.items() if isinstance(v, (str, int))})
    elif isinstance(value, str) and value:
        result["name"] = value
    for key, target in (("school_uai", "uai"), ("school_name", "name"), ("level", "level"),
                        ("level_label", "label"), ("class", "class"),
                        ("academie", "academie"), ("degree", "degree"),
                        ("FrEduCtEleveUAI", "uai"), ("FrEduCtEleveNiveau", "level")):
        item = userinfo.get(key)
        if isinstance(item, (str, int)) and str(item) and target not in result:
            result[target] = str(item)
    if "school_uai" in result and "uai" not in result:
        result["uai"] = result["school_uai"]
    if "school_name" in result and "name" not in result:
        result["name"] = result["school_name"]
    return result


def pupil_services(userinfo: dict) -> list[Service]:
    """The services of a pupil."""
    return [LIVRET_SCOLAIRE]
