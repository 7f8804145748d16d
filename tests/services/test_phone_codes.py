"""SMS codes: three tries, even for parallel requests; a spent code stays spent; a badly
formed entry costs no try; only a keyed hash is kept."""

import pytest

from idp.services import phone_codes
from idp.services.phone_codes import CHECK_MESSAGES
from idp.services.phone_codes import MAX_TRIES
from idp.services.phone_codes import PhoneCodes
from idp.services.secrets import token_hash

PHONE = "+33612345678"
NOW = 1_000_000.0


class Messenger:
    """Keeps the codes instead of sending them."""

    def __init__(self):
        self.codes = []

    def sms(self, phone, kind, code=None, minutes=None):
        self.codes.append(code)


@pytest.fixture
def codes(app, ctx):
    """Codes counted in the application's real rate limiter (database or Redis)."""
    return PhoneCodes(Messenger(), app.extensions["idp"].ratelimiter, "test-secret")


@pytest.fixture
def state(codes):
    state = {}
    codes.send(state, PHONE, "activation_code", now=NOW)
    return state


def _code(codes):
    return codes.messenger.codes[-1]


def _wrong(code):
    return "000000" if code != "000000" else "111111"


def test_the_right_code_is_accepted_once(codes, state):
    code = _code(codes)
    assert codes.check(state, code, now=NOW + 5).ok
    # Used: it cannot open a second door.
    assert codes.check(state, code, now=NOW + 6).outcome == "expired"


def test_spaces_and_full_width_digits_are_the_same_code(codes, state):
    code = _code(codes)
    spaced = f" {code[:3]} {code[3:]} "
    assert codes.check(dict(state), spaced, now=NOW + 5).ok
    wide = "".join(chr(0xFF10 + int(d)) for d in code)
    assert codes.check(dict(state), wide, now=NOW + 5).ok


def test_three_wrong_codes_spend_the_code(codes, state):
    wrong = _wrong(_code(codes))
    first = codes.check(state, wrong, now=NOW + 5)
    assert (first.outcome, first.tries_left) == ("wrong", 2)
    assert first.message == "Le code saisi est incorrect. Il vous reste 2 essai(s)."
    assert codes.check(state, wrong, now=NOW + 6).tries_left == 1
    assert codes.check(state, wrong, now=NOW + 7).outcome == "exhausted"


def test_after_too_many_tries_even_the_right_code_is_told_too_many_tries(codes, state):
    code = _code(codes)
    for _ in range(MAX_TRIES):
        codes.check(state, _wrong(code), now=NOW + 5)
    right = codes.check(state, code, now=NOW + 6)
    assert not right.ok
    assert right.outcome == "exhausted"
    assert right.message == CHECK_MESSAGES["exhausted"]
    assert "expiré" not in right.message
    # Still so once the ten minutes are over, and for a badly formed entry.
    assert codes.check(state, code, now=NOW + phone_codes.CODE_TTL + 60).outcome \
        == "exhausted"
    assert codes.check(state, "12", now=NOW + 7).outcome == "exhausted"


def test_a_new_code_after_too_many_tries_works(codes, state):
    first = _code(codes)
    for _ in range(MAX_TRIES):
        codes.check(state, _wrong(first), now=NOW + 5)
    codes.send(state, PHONE, "activation_code", now=NOW + phone_codes.RESEND_AFTER + 1)
    second = _code(codes)
    wrong = codes.check(state, _wrong(second), now=NOW + 70)
    assert (wrong.outcome, wrong.tries_left) == ("wrong", 2)
    assert codes.check(state, second, now=NOW + 71).ok
    # Used, not spent by wrong tries: "expired" is the answer again.
    assert codes.check(state, second, now=NOW + 72).outcome == "expired"


def test_an_expired_code_is_told_expired(codes, state):
    late = codes.check(state, _code(codes), now=NOW + phone_codes.CODE_TTL + 1)
    assert late.outcome == "expired"
    assert late.message == "Ce code a expiré. Demandez un nouveau code."


@pytest.mark.parametrize("typed", ["", "   ", "12345", "1234567", "12345a", "abcdef",
                                   "123-456", "١٢٣٤٥٦", None])
def test_a_badly_formed_entry_is_refused_without_using_a_try(codes, state, typed):
    result = codes.check(state, typed, now=NOW + 5)
    assert (result.outcome, result.tries_left) == ("format", MAX_TRIES)
    assert not result.ok
    assert "6 chiffres" in result.message and "Il vous reste" not in result.message
    assert state["code_tries"] == MAX_TRIES
    assert codes.check(state, _code(codes), now=NOW + 6).ok


def test_a_longer_entry_starting_with_the_code_is_not_taken_for_it(codes, state):
    # Cutting the entry to 6 digits would accept "the code plus anything".
    code = _code(codes)
    assert codes.check(state, code + "9", now=NOW + 5).outcome == "format"
    assert codes.check(state, code, now=NOW + 6).ok


def test_badly_formed_entries_do_not_lift_the_limit_of_three_guesses(codes, state):
    # However many malformed entries come between them, only three 6-digit guesses are
    # ever compared with the code; the right code after that is refused.
    code = _code(codes)
    guesses = [g for g in ("000000", "111111", "222222", "333333") if g != code][:3]
    outcomes = []
    for guess in guesses:
        for junk in ("12345", "x" * 6, "1234567"):
            outcomes.append(codes.check(state, junk, now=NOW + 5).outcome)
        outcomes.append(codes.check(state, guess, now=NOW + 5).outcome)
    assert outcomes.count("format") == 9
    assert [o for o in outcomes if o != "format"] == ["wrong", "wrong", "exhausted"]
    assert codes.check(state, code, now=NOW + 6).outcome == "exhausted"


def test_no_code_sent_is_told_expired(codes):
    assert codes.check({}, "123456", now=NOW).outcome == "expired"


def test_parallel_requests_reading_the_same_flow_share_three_tries(codes, state):
    # Each request reads the flow before any writes it back (the lost update of
    # parallel guesses): each sees three tries left, yet only three guesses are compared.
    code = _code(codes)
    outcomes = [codes.check(dict(state), _wrong(code), now=NOW + 5).outcome
                for _ in range(6)]
    assert outcomes == ["wrong", "wrong", "exhausted", "exhausted", "exhausted", "exhausted"]
    assert codes.check(dict(state), code, now=NOW + 6).outcome == "exhausted"


def test_a_new_code_has_three_tries_of_its_own(codes, state):
    first = _code(codes)
    for _ in range(MAX_TRIES):
        codes.check(dict(state), _wrong(first), now=NOW + 5)
    codes.send(state, PHONE, "activation_code", now=NOW + phone_codes.RESEND_AFTER + 1)
    second = _code(codes)
    assert codes.check(dict(state), _wrong(second), now=NOW + 70).tries_left == 2
    assert codes.check(dict(state), second, now=NOW + 71).ok


def test_only_a_hash_keyed_with_the_server_secret_is_kept(app, codes, state):
    code = _code(codes)
    assert code not in str(state)
    assert state["code_hash"] != token_hash(f"{PHONE}:{code}")
    other = PhoneCodes(Messenger(), app.extensions["idp"].ratelimiter, "another-secret")
    assert other.check(dict(state), code, now=NOW + 5).outcome == "wrong"
    assert codes.check(state, code, now=NOW + 6).ok
