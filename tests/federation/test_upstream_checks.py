"""What a FranceConnect that is not what it should be gets: a malicious upstream
(tests/federation/malicious_fc.py, a real process, signing with its published key)
sends claims of the wrong type or value, unsigned or foreign userinfo, a slow drip or a
huge answer. Each is refused with the French page, never a crash or a wait."""

import time

import pytest

from tests.federation.conftest import CLIENT_ID
from tests.federation.helpers import links

IDENTIFICATION = "/federation/franceconnect/identification"
UNAVAILABLE = "FranceConnect est momentanément indisponible"


def _login(mal_fc, mal_user, **mode):
    mal_fc.mode(**mode)
    return mal_user().full_login()


def _refused(response):
    return response.status_code == 502 and UNAVAILABLE in response.text


@pytest.mark.parametrize("mode", [
    {},
    {"id": {"aud": [CLIENT_ID, "autre-fs"], "azp": CLIENT_ID}},
    {"id": {"azp": CLIENT_ID}},
    {"id": {"nbf": "past"}},
    {"id": {"amr": "__delete__", "auth_time": "__delete__"}},
    {"ui": {"aud": [CLIENT_ID]}},
], ids=["as-sent", "audiences-with-azp", "azp", "nbf-past", "no-amr-no-auth_time",
        "userinfo-aud-list"])
def test_a_well_formed_login_goes_on(mal_app, mal_fc, mal_user, mode):
    """The baseline: what the refusals below spoil is accepted when right."""
    for part in mode.values():
        if part.get("nbf") == "past":
            part["nbf"] = int(time.time()) - 30
    response = _login(mal_fc, mal_user, **mode)
    assert response.status_code == 302, response.text[:300]
    assert IDENTIFICATION in response.headers["Location"]


@pytest.mark.parametrize("mode", [
    {"id": {"aud": 5}},
    {"id": {"aud": []}},
    {"id": {"acr": ["eidas1"]}},
    {"id": {"amr": 5}},
    {"id": {"amr": "pwd"}},
    {"id": {"amr": [5]}},
    {"id": {"auth_time": "hier"}},
    {"id": {"exp": True}},
    {"sub": "a" * 300},
    {"ui": {"aud": 7}},
    {"ui": {"family_name": 5}},
    {"ui": {"given_name": ["Jean-Pierre"]}},
], ids=lambda mode: repr(mode)[:40])
def test_claims_of_the_wrong_type_are_refused_with_the_french_page(
        mal_app, mal_fc, mal_user, mode):
    assert _refused(_login(mal_fc, mal_user, **mode))
    assert links(mal_app) == []


@pytest.mark.parametrize("mode", [
    {"ui_resp": "json"},
    {"ui": {"iss": "__delete__"}},
    {"ui": {"aud": "__delete__"}},
    {"ui": {"aud": "autre-fs"}},
], ids=["plain-json", "no-iss", "no-aud", "other-aud"])
def test_userinfo_must_be_signed_by_franceconnect_for_us(
        mal_app, mal_fc, mal_user, mode):
    assert _refused(_login(mal_fc, mal_user, **mode))


@pytest.mark.parametrize("claims", [
    {"aud": [CLIENT_ID, "autre-fs"]},
    {"azp": "autre-fs"},
    {"aud": [CLIENT_ID, "autre-fs"], "azp": "autre-fs"},
    {"nbf": "future"},
    {"nbf": "demain"},
], ids=["audiences-without-azp", "other-azp", "audiences-other-azp", "nbf-future",
        "nbf-not-a-number"])
def test_azp_and_nbf_are_checked(mal_app, mal_fc, mal_user, claims):
    if claims.get("nbf") == "future":
        claims["nbf"] = int(time.time()) + 3600
    assert _refused(_login(mal_fc, mal_user, id=claims))


def test_a_dripping_answer_is_cut_at_the_deadline(fc_app, mal_app, mal_fc, mal_user):
    # A valid token answer, in 20 pieces half a second apart: 10 s in all, each piece
    # well within the 1 s read timeout; the exchange's deadline is 3 s.
    started = time.monotonic()
    response = _login(mal_fc, mal_user, token_drip=[20, 0.5])
    assert _refused(response)
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("mode", [{"token_pad": 2 << 20}, {"token_pad_sized": 2 << 20}],
                         ids=["streamed", "with-length"])
def test_an_oversized_answer_is_refused(mal_app, mal_fc, mal_user, mode):
    # Valid answers but for 2 MB of padding (the limit is 1 MB).
    assert _refused(_login(mal_fc, mal_user, **mode))
