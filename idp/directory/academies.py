"""Which académie a school belongs to, read from the département in its UAI.

The first three digits of a UAI are the département (`083` for the Var, `620` and
`720` for Corsica, `974` for La Réunion), and each département belongs to exactly one
académie, so neither SIECLE nor ONDE files need to say it.
"""

from __future__ import annotations

# code -> (name, départements as the first three digits of their UAIs)
ACADEMIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aix-marseille": ("Aix-Marseille", ("004", "005", "013", "084")),
    "amiens": ("Amiens", ("002", "060", "080")),
    "besancon": ("Besançon", ("025", "039", "070", "090")),
    "bordeaux": ("Bordeaux", ("024", "033", "040", "047", "064")),
    "clermont-ferrand": ("Clermont-Ferrand", ("003", "015", "043", "063")),
    "corse": ("Corse", ("620", "720")),
    "creteil": ("Créteil", ("077", "093", "094")),
    "dijon": ("Dijon", ("021", "058", "071", "089")),
    "grenoble": ("Grenoble", ("007", "026", "038", "073", "074")),
    "guadeloupe": ("Guadeloupe", ("971",)),
    "guyane": ("Guyane", ("973",)),
    "la-reunion": ("La Réunion", ("974",)),
    "lille": ("Lille", ("059", "062")),
    "limoges": ("Limoges", ("019", "023", "087")),
    "lyon": ("Lyon", ("001", "042", "069")),
    "martinique": ("Martinique", ("972",)),
    "mayotte": ("Mayotte", ("976",)),
    "montpellier": ("Montpellier", ("011", "030", "034", "048", "066")),
    "nancy-metz": ("Nancy-Metz", ("054", "055", "057", "088")),
    "nantes": ("Nantes", ("044", "049", "053", "072", "085")),
    "nice": ("Nice", ("006", "083")),
    "normandie": ("Normandie", ("014", "027", "050", "061", "076")),
    "orleans-tours": ("Orléans-Tours", ("018", "028", "036", "037", "041", "045")),
    "paris": ("Paris", ("075",)),
    "poitiers": ("Poitiers", ("016", "017", "079", "086")),
    "reims": ("Reims", ("008", "010", "051", "052")),
    "rennes": ("Rennes", ("022", "029", "035", "056")),
    "strasbourg": ("Strasbourg", ("067", "068")),
    "toulouse": ("Toulouse", ("009", "012", "031", "032", "046", "065", "081", "082")),
    "versailles": ("Versailles", ("078", "091", "092", "095")),
}

_BY_PREFIX = {prefix: code for code, (_, prefixes) in ACADEMIES.items() for prefix in prefixes}


def academie_of(uai: str) -> str | None:
    """Return the code of the académie of a UAI, or None outside the académies listed."""
    return _BY_PREFIX.get((uai or "")[:3])


def name_of(code: str) -> str:
    """Return the display name of an académie code."""
    return ACADEMIES[code][0]
