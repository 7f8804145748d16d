"""Clean-up of what school files contain: names, phone numbers, dates, civilities."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

# Letters that Unicode decomposition leaves whole but people spell out in ASCII.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D")

# French overseas mobile ranges are dialled 06xx at home but belong to other country
# codes: sending an SMS to +33 690... would reach nobody.
_OVERSEAS_MOBILE = {
    "690": "590", "691": "590",  # Guadeloupe, Saint-Martin, Saint-Barthélemy
    "694": "594",  # Guyane
    "696": "596", "697": "596",  # Martinique
    "692": "262", "693": "262", "639": "262",  # La Réunion, Mayotte
}
_OVERSEAS_CODES = {"590", "594", "596", "262"}


# Names repeat a great deal in school files (family names, first names): cache them.
@lru_cache(maxsize=1 << 16)
def fold(value: str | None) -> str:
    """Return the text without accents or ligatures (é -> e, œ -> oe), case kept."""
    if not value or value.isascii():
        return value or ""
    text = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)
def name_key(value: str | None) -> str:
    """Return the form of a name used for matching: no accents, case, spaces or hyphens.

    `Le Gall-Hervé`, `LE GALL HERVE` and `legallherve` give the same key; apostrophes
    and other punctuation are dropped too, as files spell `D'Almeida` both ways.
    """
    return _NOT_ALNUM.sub("", fold(value).lower())


def clean_name(value: str | None) -> str:
    """Return a name as stored: single spaces, no surrounding blanks."""
    return _SPACES.sub(" ", value or "").strip()


@lru_cache(maxsize=1 << 16)
def ascii_slug(value: str | None) -> str:
    """Lowercase ASCII letters and digits, words joined by hyphens (for identifiers)."""
    text = fold(value).lower().replace("'", "").replace("\u2019", "")
    return "-".join(p for p in _NOT_ALNUM.split(text) if p)


def phone_e164(value: str | None) -> str | None:
    """Return a phone number in E.164 form (+33612345678), or None if it is not one.

    French national numbers (06 12 34 56 78), +33 and 0033 forms, with any spaces,
    dots, dashes or a "(0)" are accepted; other international numbers are kept when
    they start with + or 00.
    """
    raw = (value or "").strip()
    if not raw:
        return None
    if raw.startswith("+"):
        # Already E.164 (as the importer passes numbers on), or written with separators.
        digits = raw[1:] if raw[1:].isdigit() else _NOT_DIGIT.sub("", raw.replace("(0)", ""))
    else:
        digits = _NOT_DIGIT.sub("", raw.replace("(0)", ""))
        if digits.startswith("00"):
            digits = digits[2:]
        elif len(digits) == 10 and digits.startswith("0"):
            national = digits[1:]
            digits = _OVERSEAS_MOBILE.get(national[:3], "33") + national
        else:
            return None
    if digits.startswith("330") and len(digits) == 12:
        # "+33 0 6..." is a frequent way of writing +33 6...
        digits = "33" + digits[3:]
    if digits.startswith("33"):
        national = digits[2:]
        if len(national) != 9 or national[0] == "0":
            return None
        country = _OVERSEAS_MOBILE.get(national[:3])
        if country:
            digits = country + national
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        return None
    return "+" + digits


def mobile_e164(raw: str | None) -> str | None:
    """A number typed for receiving SMS, in E.164 form; None when it is not a phone
    number, or a French number that is not a mobile (numbers abroad are taken as given)."""
    number = phone_e164(raw)
    if number is None or (number.startswith("+33") and not is_mobile(number)):
        return None
    return number


def is_mobile(e164: str | None) -> bool:
    """Tell whether an E.164 number is a French mobile (SMS can reach it)."""
    if not e164:
        return False
    if e164.startswith(("+336", "+337")):
        return len(e164) == 12
    return e164[1:4] in _OVERSEAS_CODES and e164[4:7] in _OVERSEAS_MOBILE and len(e164) == 13


def parse_date(value: str | None) -> date | None:
    """Parse DD/MM/YYYY (school files) or YYYY-MM-DD; None when empty; ValueError if bad."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        if "/" in text:
            day, month, year = text.split("/")
            if len(year) != 4:
                raise ValueError
            return date(int(year), int(month), int(day))
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"date {text!r}: DD/MM/YYYY expected")


def civility(value: str | None) -> str | None:
    """Return M. or Mme, or None when the file says neither."""
    key = name_key(value)
    if key in ("m", "mr", "monsieur"):
        return "M."
    if key in ("mme", "mlle", "madame", "mademoiselle"):
        return "Mme"
    return None


def sex(value: str | None) -> str | None:
    """Return M or F from SIECLE (1/2) or ONDE (M/F) codes."""
    key = (value or "").strip().upper()
    if key in ("1", "M", "G"):
        return "M"
    if key in ("2", "F"):
        return "F"
    return None


def yes_no(value: str | None) -> bool | None:
    """Read a yes/no flag (1/0, O/N, Oui/Non); None when absent."""
    key = name_key(value)
    if key in ("1", "o", "oui", "y", "yes", "true"):
        return True
    if key in ("0", "n", "non", "no", "false"):
        return False
    return None


# Marks a label cut to fit its column, so that nobody takes it for the whole label.
ELLIPSIS = "\u2026"
# Characters a cut label should not end with: they announce what was cut off.
_DANGLING = " \t-\u2013,;:/(+&"


def too_long(label: str, value: str | None, limit: int) -> str | None:
    """Say why a value that must not be cut (a code, an identifier, a name) does not fit
    its column of `limit` characters; None when it fits.

    Such values are never cut: a cut INE, MEF or e-mail address is another one, and a
    cut name would be released to services and used to match children.
    """
    if value is None or len(value) <= limit:
        return None
    preview = value if len(value) <= 40 else value[:37] + "..."
    return (f"{label} is {len(value)} characters long, more than the {limit} the directory "
            f"stores: {preview!r}")


def first_too_long(values: dict[str, str | None], limit: int) -> str | None:
    """Why the first of these values (label -> value) that does not fit `limit`
    characters does not, as `too_long` says it; None when all fit."""
    for label, value in values.items():
        reason = too_long(label, value, limit)
        if reason:
            return reason
    return None


def shorten(value: str, limit: int) -> str:
    """Cut a free-text label (a class, a level, a school name) to at most `limit`
    characters, at a word boundary when one is near, ending with an ellipsis."""
    if len(value) <= limit:
        return value
    room = value[:limit - len(ELLIPSIS)]
    cut = room
    if not value[len(room)].isspace():
        # The cut falls inside a word: go back to the last space, unless that loses
        # more than a third of the label (a long word, a code without spaces).
        space = room.rfind(" ")
        if space >= len(room) * 2 // 3:
            cut = room[:space]
    return (cut.rstrip(_DANGLING) or room) + ELLIPSIS


def fit_label(label: str, value: str | None, limit: int) -> tuple[str | None, str | None]:
    """Return a free-text label that fits `limit` characters, and the warning to give
    when it had to be cut (None when it fits)."""
    if value is None or len(value) <= limit:
        return value, None
    short = shorten(value, limit)
    return short, (f"{label} is {len(value)} characters long, more than the {limit} the "
                   f"directory stores: kept as {short!r}")


def pupil_key(family_name: str, given_name: str) -> str:
    """The key ONDE representatives' children are matched on (the pupils' `name_key`)."""
    return f"{name_key(family_name)}|{name_key(given_name)}"


def key_too_long(what: str, key: str, limit: int) -> str | None:
    """Say why a matching key built from names does not fit its column of `limit`
    characters; None when it fits."""
    if len(key) <= limit:
        return None
    return (f"{what} are too long together: their matching key has {len(key)} characters, "
            f"more than the {limit} the directory stores")
