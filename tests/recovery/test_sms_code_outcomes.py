"""What the SMS code page of a forgotten password says: a spent code stays "trop de codes
incorrects", and an entry that is not 6 digits costs no try (same for unknown accounts)."""

import html

from tests.recovery.conftest import submit


def _request(client, identifier, mobile="06 12 34 56 78"):
    return submit(client, "/recuperation/mot-de-passe/parent",
                  {"identifier": identifier, "mobile": mobile})


def _wrong(code):
    return "000000" if code != "000000" else "111111"


def test_the_right_code_after_three_wrong_ones_is_told_too_many_tries(
        client, make_parent, outbox):
    parent = make_parent()
    step = _request(client, parent["identifier"])
    code = outbox.last_code(parent["phone"])
    for _ in range(3):
        last = submit(client, step, {"code": _wrong(code)})
    assert "trop de codes incorrects" in html.unescape(last.text)
    right = submit(client, step, {"code": code})
    text = html.unescape(right.text)
    assert right.status_code == 401
    assert "Vous avez saisi trop de codes incorrects. Demandez un nouveau code." in text
    assert "expiré" not in text


def test_five_digits_are_a_format_error_that_costs_no_try(client, make_parent, outbox):
    parent = make_parent()
    step = _request(client, parent["identifier"])
    code = outbox.last_code(parent["phone"])
    short = submit(client, step, {"code": code[:5]})
    text = html.unescape(short.text)
    assert "Le code reçu par SMS comporte 6 chiffres" in text
    assert "Il vous reste" not in text
    wrong = submit(client, step, {"code": _wrong(code)})
    assert "Il vous reste 2 essai(s)" in wrong.text
    assert submit(client, step, {"code": code}).status_code == 302


def test_an_unknown_account_answers_a_format_error_the_same_way(client):
    step = _request(client, "p.personne99")
    short = submit(client, step, {"code": "12345"})
    assert "Le code reçu par SMS comporte 6 chiffres" in html.unescape(short.text)
    wrong = submit(client, step, {"code": "123456"})
    assert "Il vous reste 2 essai(s)" in wrong.text
