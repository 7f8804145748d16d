"""What "Mes services" shows, computed from the claims only.

Claims used (when the provider releases them; every one is optional here):

- `affiliation`: "eleve" or "responsable" (scope `profile`); or, for a client
  registered with the EduConnect compatibility profile, `FrEduCtPersonAffiliation`
  ("eleve1d", "eleve2d", "resp1d", "resp2d");
- `children` (scope `children`, parents): a list of objects with `id` (pairwise for
  this client), `given_name`, `family_name`, `birthdate`, `school_uai`,
  `school_name`, `level` (MEFSTAT4, e.g. "2111" for 6e) and `degree` ("1d"/"2d");
- `school` (scope `school`, pupils): the pupil's school (an object, or flat
  `school_uai` / `school_name` / `level` claims).
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

    @property
    def name(self) -> str:
        """Given and family names."""
        return " ".join(p for p in (self.given_name, self.family_name) if p) or "Enfant"

    @property
    def stage(self) -> str | None:
        """"ecole", "college", "lycee" or None when the level is unknown."""
        return stage(self.level, self.degree)

    @property
    def level_label(self) -> str:
        """The class, as people name it."""
        return level_label(self.level, self.degree)

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


def stage(level, degree) -> str | None:
    """School stage from a MEFSTAT4 level and a degree ("1d" / "2d")."""
    level = str(level or "").strip()
    if degree == "1d" or (level[:1] == "1" and len(level) == 4):
        return "ecole"
    if level.startswith("21"):
        return "college"
    if level[:1] == "2" and len(level) == 4:
        return "lycee"
    return None


def level_label(level, degree=None) -> str:
    """A readable class name for a level code."""
    level = str(level or "").strip()
    if level in LEVEL_LABELS:
        return LEVEL_LABELS[level]
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
            id=text("id") or text("sub") or str(index + 1),
            given_name=text("given_name"), family_name=text("family_name"),
            birthdate=text("birthdate"), school_uai=text("school_uai"),
            school_name=text("school_name"), level=text("level"), degree=text("degree"),
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
