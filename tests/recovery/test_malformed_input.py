"""Malformed values on the recovery and account forms: never a 500."""

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.conftest import csrf_from
from tests.recovery.conftest import login

nasty = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FFFF,
                                   exclude_categories=("Cs",)), max_size=200),
    st.sampled_from(["", " ", "null", "{}", "%00", "../../etc", "a" * 5000, "0", "-1",
                     "99999999999999999999", "+", "@", "a@b", "06 12 34 56 78",
                     "+33 0 6 12 34 56 78", "resend", "check"]),
)

FORMS = {
    ("POST", "/recuperation/identifiant/parent"): ["family_name", "given_name", "mobile",
                                                    "flow"],
    ("POST", "/recuperation/identifiant/eleve"): ["email", "flow"],
    ("GET", "/recuperation/identifiant/envoye"): ["canal", "flow"],
    ("POST", "/recuperation/mot-de-passe/parent"): ["identifier", "mobile", "flow"],
    ("POST", "/recuperation/mot-de-passe/eleve"): ["identifier", "flow"],
    ("POST", "/recuperation/mot-de-passe/parent/code"): ["f", "code", "action"],
    ("POST", "/recuperation/mot-de-passe/parent/nouveau"): ["f", "password", "confirmation"],
    ("POST", "/compte/mot-de-passe"): ["current_password", "password", "confirmation"],
    ("POST", "/compte/courriel"): ["email", "current_password"],
    ("POST", "/compte/telephone"): ["mobile", "current_password"],
    ("POST", "/compte/telephone/code"): ["f", "code", "action"],
}


@pytest.mark.parametrize(("method", "path"), sorted(FORMS))
def test_form_survives_malformed_input(app, make_parent, outbox, method, path):
    browser = app.test_client()
    parent = make_parent()
    if path.startswith("/compte"):
        assert login(browser, parent["identifier"], parent["password"]).status_code == 302
    csrf = csrf_from(browser.get("/recuperation/identifiant/parent").text)
    names = FORMS[(method, path)]

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(values=st.fixed_dictionaries({}, optional={n: nasty for n in names}))
    def check(values):
        if method == "GET":
            response = browser.get(path, query_string=values)
        else:
            response = browser.post(path, data={**values, "csrf_token": csrf}, buffered=True)
        assert response.status_code < 500, (values, response.text[:300])

    check()
