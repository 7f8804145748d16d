"""National codes of the school system: UAI (school), INE (pupil), MEFSTAT4 (level)."""

from __future__ import annotations

import re

# The key letter of a UAI is chosen among 23 letters: I, O and Q are left out because
# they read like 1, 0 and O on printed forms.
UAI_KEY_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ"
UAI_RE = re.compile(r"^[0-9]{7}[A-Z]$")

# Three INE formats coexist: RNIE (9 digits and 2 letters, since the 2018 rentrée),
# BEA (10 digits or underscores, 1 letter) and apprentices (4 digits, A, 5 digits, 1 letter).
INE_PATTERNS = (
    re.compile(r"^[0-9]{9}[A-Z]{2}$"),
    re.compile(r"^[0-9_]{10}[A-Z]$"),
    re.compile(r"^[0-9]{4}A[0-9]{5}[A-Z]$"),
)

MEFSTAT4_RE = re.compile(r"^[0-9]{4}$")


def normalise_code(value: str | None) -> str:
    """Uppercase a code and drop the spaces people type around and inside it."""
    return "".join((value or "").split()).upper()


def uai_key(digits: str) -> str:
    """Return the key letter of the 7-digit part of a UAI."""
    if not (len(digits) == 7 and digits.isdigit()):
        raise ValueError("a UAI starts with 7 digits")
    return UAI_KEY_ALPHABET[int(digits) % 23]


def make_uai(digits: str) -> str:
    """Append its key letter to the 7-digit part of a UAI."""
    return digits + uai_key(digits)


def is_valid_uai(value: str | None) -> bool:
    """Tell whether a UAI has the right format and key letter."""
    code = normalise_code(value)
    return bool(UAI_RE.match(code)) and code[7] == uai_key(code[:7])


def check_uai(value: str | None) -> str:
    """Return the normalised UAI, or raise ValueError saying what is wrong."""
    code = normalise_code(value)
    if not UAI_RE.match(code):
        raise ValueError(f"UAI {value!r}: 7 digits and a letter expected")
    if code[7] != uai_key(code[:7]):
        raise ValueError(f"UAI {value!r}: wrong key letter (expected {uai_key(code[:7])})")
    return code


def is_valid_ine(value: str | None) -> bool:
    """Tell whether an INE matches one of the three national formats."""
    code = normalise_code(value)
    return any(p.match(code) for p in INE_PATTERNS)


def check_ine(value: str | None) -> str:
    """Return the normalised INE, or raise ValueError saying what is wrong."""
    code = normalise_code(value)
    if not code:
        raise ValueError("INE missing")
    if not any(p.match(code) for p in INE_PATTERNS):
        raise ValueError(f"INE {value!r}: not an RNIE, BEA or apprentice INE (11 characters)")
    return code


def mefstat4(mefstat11: str | None) -> str | None:
    """Return the MEFSTAT4 level (first four digits) of an 11-digit MEFSTAT code."""
    code = normalise_code(mefstat11)
    if len(code) == 11 and code.isdigit():
        return code[:4]
    if MEFSTAT4_RE.match(code):
        return code
    return None
