"""What a new password must be: long enough, not common, not guessable from the person.

Strength is estimated with zxcvbn (dictionaries of common passwords, names, keyboard
patterns, dates); a short French list adds what those dictionaries miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from zxcvbn import zxcvbn

COMMON_FR = Path(__file__).resolve().parent.parent / "data" / "common_passwords_fr.txt"
MAX_LENGTH = 128
HINTS = {0: "très faible", 1: "faible", 2: "moyen", 3: "bon", 4: "très bon"}


@dataclass
class Verdict:
    """Whether a password is accepted, why not, and a strength hint."""

    ok: bool
    error: str | None
    score: int
    hint: str


@cache
def _common() -> frozenset[str]:
    lines = COMMON_FR.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and line[0] != "#")


def check(password: str, confirmation: str | None, *, min_length: int, min_score: int,
          personal: list[str]) -> Verdict:
    """Judge a new password against the policy; personal holds names and identifier."""
    password = password or ""
    if len(password) < min_length:
        return Verdict(False, f"Le mot de passe doit contenir au moins {min_length} "
                              "caractères.", 0, HINTS[0])
    if len(password) > MAX_LENGTH:
        return Verdict(False, f"Le mot de passe doit contenir au plus {MAX_LENGTH} "
                              "caractères.", 0, HINTS[0])
    if confirmation is not None and confirmation != password:
        return Verdict(False, "Les deux mots de passe saisis ne sont pas identiques.", 0,
                       HINTS[0])
    if password.lower() in _common():
        return Verdict(False, "Ce mot de passe est trop courant : choisissez-en un autre.",
                       0, HINTS[0])
    inputs = [p.lower() for p in personal if p]
    lowered = password.lower()
    if any(len(p) >= 3 and p in lowered for p in inputs):
        return Verdict(False, "Le mot de passe ne doit pas contenir votre nom ni votre "
                              "identifiant.", 0, HINTS[0])
    score = zxcvbn(password[:64], user_inputs=inputs)["score"]
    if score < min_score:
        return Verdict(False, "Ce mot de passe est trop facile à deviner : allongez-le ou "
                              "mélangez des mots sans rapport entre eux.", score,
                       HINTS[score])
    return Verdict(True, None, score, HINTS[score])
