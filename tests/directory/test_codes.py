"""UAI keys, INE formats and MEFSTAT levels."""

import pytest

from idp.directory import codes


@pytest.mark.parametrize("digits, key", [
    ("0751234", "J"), ("0010856", "A"), ("0830901", "D"), ("0130902", "K"), ("0061903", "L"),
])
def test_uai_key_letter_is_the_remainder_by_23_in_the_alphabet_without_i_o_q(digits, key):
    assert codes.uai_key(digits) == key
    assert codes.make_uai(digits) == digits + key


@pytest.mark.parametrize("value", ["0751234J", "0751234j", " 0751234 J ", "0010856A"])
def test_valid_uais_are_accepted_whatever_their_case_and_spacing(value):
    assert codes.is_valid_uai(value)
    assert codes.check_uai(value) == codes.normalise_code(value)


@pytest.mark.parametrize("value, reason", [
    ("0000856A", "wrong key letter"),
    ("0010856B", "wrong key letter"),
    ("075123J", "7 digits and a letter"),
    ("07512345", "7 digits and a letter"),
    ("", "7 digits and a letter"),
])
def test_invalid_uais_are_refused_with_the_reason(value, reason):
    assert not codes.is_valid_uai(value)
    with pytest.raises(ValueError, match=reason):
        codes.check_uai(value)


@pytest.mark.parametrize("value", [
    "123456789AB",  # RNIE, since 2018
    "1234567890A",  # BEA
    "12345678_9A",  # BEA with an underscore
    "1234A56789B",  # apprentice
    "123456789ab",  # lowercase in a file
])
def test_the_three_ine_formats_are_accepted(value):
    assert codes.check_ine(value) == value.upper()


@pytest.mark.parametrize("value", [
    "", "1234567890", "12345678901", "123456789ABC", "ABCDEFGHIJK", "1234567890A1",
    "12345B6789C",
])
def test_other_ines_are_refused(value):
    assert not codes.is_valid_ine(value)
    with pytest.raises(ValueError, match="INE"):
        codes.check_ine(value)


def test_mefstat4_is_the_first_four_digits_of_the_mefstat11():
    assert codes.mefstat4("21160010019") == "2116"
    assert codes.mefstat4("2212") == "2212"
    assert codes.mefstat4("") is None
    assert codes.mefstat4("ABCD") is None
