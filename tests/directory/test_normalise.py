"""Names, phone numbers, dates and the matching key of parents."""

from datetime import date

import pytest

from idp.directory import normalise
from idp.directory.family import identity_key


@pytest.mark.parametrize("raw, e164", [
    ("06 12 34 56 78", "+33612345678"),
    ("0612345678", "+33612345678"),
    ("07.12.34.56.78", "+33712345678"),
    ("07-12-34-56-78", "+33712345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),
    ("+33 0 6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("0033 7 12 34 56 78", "+33712345678"),
    ("04 94 00 00 01", "+33494000001"),
    ("0690 12 34 56", "+590690123456"),  # Guadeloupe mobile: not a +33 number
    ("0692 12 34 56", "+262692123456"),  # La Réunion
    ("+44 7911 123456", "+447911123456"),
])
def test_phone_numbers_are_written_in_e164(raw, e164):
    assert normalise.phone_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "   ", "12", "0612", "06123456789", "not a number",
                                 "+33 06 12"])
def test_what_is_not_a_phone_number_gives_none(raw):
    assert normalise.phone_e164(raw) is None


def test_mobiles_are_told_from_landlines():
    assert normalise.is_mobile("+33612345678")
    assert normalise.is_mobile("+33712345678")
    assert normalise.is_mobile("+590690123456")
    assert not normalise.is_mobile("+33494000001")
    assert not normalise.is_mobile(None)


@pytest.mark.parametrize("a, b", [
    ("Le Gall-Hervé", "LE GALL HERVE"),
    ("Jean-Pierre", "jean pierre"),
    ("D'Almeida", "DALMEIDA"),
    ("D\u2019Almeida", "d almeida"),
    ("Œdipe", "OEDIPE"),
    ("Éloïse", "ELOISE"),
])
def test_name_keys_ignore_accents_case_spaces_hyphens_and_apostrophes(a, b):
    assert normalise.name_key(a) == normalise.name_key(b)


def test_identity_key_groups_the_same_parent_written_differently():
    assert identity_key("ROUX", "Sophie", "06 11 22 33 44") == identity_key(
        "Roux", "SOPHIE", "+33 6 11 22 33 44"
    )
    assert identity_key("ROUX", "Sophie", "06 11 22 33 44") != identity_key(
        "ROUX", "Sophie", "06 99 88 77 66"
    )
    assert identity_key("ROUX", "Sophie", "") is None
    assert identity_key("ROUX", "Sophie", "n/a") is None


@pytest.mark.parametrize("raw, parsed", [
    ("31/12/2010", date(2010, 12, 31)),
    ("1/2/2010", date(2010, 2, 1)),
    ("2010-12-31", date(2010, 12, 31)),
    ("", None),
])
def test_dates_are_read_french_style_or_iso(raw, parsed):
    assert normalise.parse_date(raw) == parsed


@pytest.mark.parametrize("raw", ["31/02/2010", "12/31/10", "2010/12/31", "hier", "31-12-2010"])
def test_bad_dates_raise(raw):
    with pytest.raises(ValueError, match="DD/MM/YYYY"):
        normalise.parse_date(raw)


def test_civilities_sexes_and_flags():
    assert normalise.civility("MME") == "Mme"
    assert normalise.civility("M.") == "M."
    assert normalise.civility("") is None
    assert (normalise.sex("1"), normalise.sex("2"), normalise.sex("F")) == ("M", "F", "F")
    assert (normalise.yes_no("1"), normalise.yes_no("Non"), normalise.yes_no("")) == (
        True, False, None
    )


@pytest.mark.parametrize("value, limit, cut", [
    ("CE2 - CM1 - Mme BLANC-DUPONT et M. VIDAL (décloisonnement lecture)", 64,
     "CE2 - CM1 - Mme BLANC-DUPONT et M. VIDAL (décloisonnement…"),
    ("CE2 - CM1 - Mme BLANC", 64, "CE2 - CM1 - Mme BLANC"),  # fits: unchanged
    ("CP - Mme ROSSI / M. VIDAL", 17, "CP - Mme ROSSI…"),  # no dangling " /"
    ("A" * 70, 64, "A" * 63 + "…"),  # no space near the end: cut in the word
])
def test_labels_are_cut_at_a_word_boundary_with_an_ellipsis(value, limit, cut):
    assert normalise.shorten(value, limit) == cut
    assert len(normalise.shorten(value, limit)) <= limit


def test_fit_label_warns_only_when_it_cuts():
    assert normalise.fit_label("Niveau", "CE2", 64) == ("CE2", None)
    assert normalise.fit_label("Niveau", None, 64) == (None, None)
    short, warning = normalise.fit_label("Niveau", "x " * 40, 64)
    assert len(short) <= 64 and warning.startswith("Niveau is 80 characters long")


def test_too_long_says_what_and_how_long_without_cutting():
    assert normalise.too_long("CODE_MEF", "10310019110", 11) is None
    assert normalise.too_long("CODE_MEF", None, 11) is None
    assert normalise.too_long("CODE_MEF", "103100191101", 11) == (
        "CODE_MEF is 12 characters long, more than the 11 the directory stores: "
        "'103100191101'"
    )
