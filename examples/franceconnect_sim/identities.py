"""The simulator's test people, FranceConnect's scope → claims map and the pairwise `sub`.

The first three people are FranceConnect's own test identities (the local mock
identity provider's `test`, and the "Démonstration" identity provider's `3_melaine`
and `testfc1`); `claire` and `pierre` are for the school demo (a mother with a usage
name, a father); `jean-pierre` is Jean-Pierre MOREAU, a legal representative of the
sample directory (examples/data: Chloé at the collège des Oliviers, Tom at the école
Les Mimosas, mobile 07 45 67 89 01) who has not activated his account, for the
FranceConnect first login of the demo and of the browser tests. Every password is
"123", as on FranceConnect's demonstration provider.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

PASSWORD = "123"


@dataclass(frozen=True)
class Person:
    """One identity as FranceConnect transmits it (the RNIPP-checked identity pivot)."""

    login: str
    family_name: str  # birth name, upper case
    given_name: str  # given names separated by spaces
    gender: str  # "male" | "female"
    birthdate: str  # YYYY-MM-DD
    birthplace: str  # INSEE commune code, "" when born abroad
    birthcountry: str  # INSEE country code, 99100 = France
    email: str
    preferred_username: str = ""  # usage name; "" when none
    password: str = PASSWORD

    @property
    def given_name_array(self) -> list[str]:
        """The given names one by one (RNIPP list)."""
        return self.given_name.split()

    @property
    def display_name(self) -> str:
        """Given names and birth name, with the usage name when there is one."""
        name = f"{self.given_name} {self.family_name}"
        if self.preferred_username:
            name += f" (nom d'usage {self.preferred_username})"
        return name

    def claim(self, name: str):
        """The value of one FranceConnect claim (None when this person has none)."""
        if name == "given_name_array":
            return self.given_name_array
        if name == "idp_birthdate":
            return self.birthdate
        if name == "preferred_username":
            return self.preferred_username or None
        return getattr(self, name, None)


PEOPLE: tuple[Person, ...] = (
    Person("test", "DUBOIS", "Angela Claire Louise", "female", "1962-08-24", "75107", "99100",
           "angela.dubois@example.fr"),
    Person("3_melaine", "TROIS", "Mélaine Évelyne", "female", "1981-07-27", "95277", "99100",
           "melaine.trois@example.fr"),
    Person("testfc1", "DUPONT", "Stéphane Louis Perceval", "male", "1962-08-24", "75112",
           "99100", "stephane.dupont@example.fr"),
    Person("claire", "LEGRAND", "Claire", "female", "1984-05-12", "75115", "99100",
           "claire.durand@example.fr", preferred_username="DURAND"),
    Person("pierre", "MARTIN", "Pierre", "male", "1980-11-02", "13055", "99100",
           "pierre.martin@example.fr"),
    # Same birth name and first given name as in the school files (examples/data).
    Person("jean-pierre", "MOREAU", "Jean-Pierre Marcel", "male", "1979-06-14", "83137",
           "99100", "jean-pierre.moreau@example.fr"),
)

#: FranceConnect v2 ("fcp-low") scopes and the claims each one releases.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("given_name", "given_name_array", "family_name", "birthdate", "gender",
                "preferred_username"),
    "birth": ("birthplace", "birthcountry"),
    "identite_pivot": ("given_name", "given_name_array", "family_name", "birthdate", "gender",
                       "birthplace", "birthcountry"),
    "given_name": ("given_name", "given_name_array"),
    "family_name": ("family_name",),
    "gender": ("gender",),
    "birthdate": ("birthdate",),
    "birthplace": ("birthplace",),
    "birthcountry": ("birthcountry",),
    "email": ("email",),
    "preferred_username": ("preferred_username",),
    "idp_birthdate": ("idp_birthdate",),
    "amr": ("amr",),
}


def claims_for_scopes(scopes: list[str]) -> list[str]:
    """The claim names released for these scopes, in a stable order, without `sub`."""
    names: list[str] = []
    for scope in scopes:
        for name in SCOPE_CLAIMS.get(scope, ()):
            if name != "sub" and name not in names:
                names.append(name)
    return names


def identity_hash(person: Person) -> str:
    """base64(sha256(given_name + family_name + birthdate + gender + place + country)).

    The birthplace only counts for people born in France, as in FranceConnect's code.
    """
    place = person.birthplace if person.birthcountry == "99100" else ""
    text = (person.given_name + person.family_name + person.birthdate + person.gender
            + place + person.birthcountry)
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def pairwise_sub(entity_id: str, person: Person, secret: str) -> str:
    """hex(sha256(entityId + identityHash + secret)) + "v1": 66 characters, per service."""
    text = entity_id + identity_hash(person) + secret
    return hashlib.sha256(text.encode("utf-8")).hexdigest() + "v1"


def people_by_login(people=PEOPLE) -> dict[str, Person]:
    """{login: Person}."""
    return {p.login: p for p in people}
