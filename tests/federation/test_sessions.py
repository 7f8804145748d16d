"""A session opened through FranceConnect: when the person authenticated there (its
`auth_time`), a fresh login asked by the service asked of FranceConnect too, and its ID
token kept sealed, and only while the session lasts."""

import time
from urllib.parse import urljoin

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import SsoSession
from tests.conftest import RelyingParty
from tests.federation.helpers import STEPHANE
from tests.federation.helpers import claims_of
from tests.federation.helpers import identify
from tests.federation.helpers import link
from tests.federation.helpers import password_login

CALLBACK = "http://localhost/"


def _linked_parent(fc_user, make_account):
    """Stéphane's account, linked from the account page: he logged in at FranceConnect
    (its single sign-on now knows him in this browser)."""
    parent = make_account("s.dupont", **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, parent)
    assert link(user, parent).headers["Location"].endswith("/compte")
    return user


def _same_franceconnect(fc_user, user):
    """Another browser session on our side, the same FranceConnect single sign-on."""
    again = fc_user("testfc1")
    again.fc = user.fc
    return again


def _sealed(value):
    return isinstance(value, str) and value.count(".") != 2 and "eyJ" not in value


def test_the_session_keeps_franceconnect_auth_time(fc_app, fc_user, rp, make_account):
    before = int(time.time())
    user = _linked_parent(fc_user, make_account)
    authenticated = int(time.time())
    time.sleep(2)
    again = _same_franceconnect(fc_user, user)
    relying = RelyingParty(again.browser, rp.reg)
    authorize_url = again.start(relying.authorize().headers["Location"].split("flow=")[1])
    assert "prompt=" not in authorize_url
    answer = again.fc.get(authorize_url, allow_redirects=False, timeout=10)
    # FranceConnect's single sign-on answered at once, without asking.
    assert answer.headers["Location"].startswith(CALLBACK)
    callback = relying.follow_to_callback(again.back(answer.headers["Location"]))
    claims = claims_of(relying.token(callback["code"]).json["id_token"])
    assert before <= claims["auth_time"] <= authenticated


@pytest.mark.parametrize("asked", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "3600"}],
                         ids=["prompt=login", "max_age=0", "max_age=3600"])
def test_a_fresh_login_asked_by_the_service_is_asked_of_franceconnect(
        fc_app, fc_user, rp, make_account, asked):
    user = _linked_parent(fc_user, make_account)
    time.sleep(1)
    again = _same_franceconnect(fc_user, user)
    relying = RelyingParty(again.browser, rp.reg)
    started = int(time.time())
    authorize_url = again.start(relying.authorize(**asked).headers["Location"]
                                .split("flow=")[1])
    assert "prompt=login" in authorize_url
    answer = again.fc.get(authorize_url, allow_redirects=False, timeout=10)
    # FranceConnect asks again, its single sign-on notwithstanding.
    assert not answer.headers["Location"].startswith(CALLBACK)
    back = again.authenticate_upstream(urljoin(authorize_url, answer.headers["Location"]))
    callback = relying.follow_to_callback(again.back(back))
    claims = claims_of(relying.token(callback["code"]).json["id_token"])
    assert claims["auth_time"] >= started


def test_franceconnect_id_tokens_are_sealed_and_dropped_at_logout(
        fc_app, fc_user, make_client, family, outbox):
    reg = make_client()
    user = fc_user("claire")
    relying = RelyingParty(user.browser, reg)
    start = relying.authorize()
    response = user.full_login(start.headers["Location"].split("flow=")[1])
    flow_id = response.headers["Location"].split("f=")[1].split("&")[0]
    with fc_app.app_context():
        pending = fc_app.extensions["idp"].flows.get(flow_id, "fc-identification")
    assert _sealed(pending["id_token"])
    done = identify(user, response, family, outbox)
    tokens = relying.token(relying.follow_to_callback(done)["code"]).json
    with fc_app.app_context():
        [session] = db.session.execute(select(SsoSession)).scalars().all()
        assert _sealed(session.extra["fc_id_token"])
    logout = user.browser.get("/logout", query_string={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://rp.example.org/logged-out", "state": "bye"})
    upstream = logout.headers["Location"]
    # FranceConnect gets the token itself (it checks its signature) and sends back.
    assert upstream.startswith(user.sim.issuer + "/session/end")
    back = user.fc.get(upstream, allow_redirects=False, timeout=10)
    assert back.headers["Location"].startswith(CALLBACK + "federation/franceconnect/deconnexion")
    with fc_app.app_context():
        [session] = db.session.execute(select(SsoSession)).scalars().all()
        assert session.ended_at is not None and "fc_id_token" not in session.extra
