"""Logging in with FranceConnect against a live upstream (the simulator process)."""

import base64
import json
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from sqlalchemy import select

from idp.extensions import db
from idp.models import Account
from idp.models import FederatedIdentity
from tests.activation.conftest import submit
from tests.conftest import RelyingParty
from tests.conftest import csrf_from
from tests.conftest import query_of
from tests.federation.helpers import identify


def _claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _csrf(user):
    """This browser's CSRF token (the same on every page)."""
    return csrf_from(user.browser.get("/login").text)


def _links(app):
    with app.app_context():
        return db.session.execute(select(FederatedIdentity)).scalars().all()


def test_first_login_links_then_later_logins_go_straight_through(fc_app, fc_user, rp, family,
                                                                  outbox):
    user = fc_user("claire")
    relying = RelyingParty(user.browser, rp.reg)
    start = relying.authorize()
    flow = start.headers["Location"].split("flow=")[1]
    done = identify(user, user.full_login(flow), family, outbox)
    callback = relying.follow_to_callback(done)
    tokens = relying.token(callback["code"]).json
    claims = _claims(tokens["id_token"])
    assert "fc" in claims["amr"] and claims["acr"] == "eidas1"
    links = _links(fc_app)
    assert len(links) == 1
    with fc_app.app_context():
        account = db.session.get(Account, links[0].account_id)
        assert account.status == "active" and account.password_hash is None
        assert account.phone_number_verified
    # A later login, in a new browser: straight through, no identification.
    again = fc_user("claire")
    relying = RelyingParty(again.browser, rp.reg)
    start = relying.authorize()
    back = again.full_login(start.headers["Location"].split("flow=")[1])
    callback = relying.follow_to_callback(back)
    second = _claims(relying.token(callback["code"]).json["id_token"])
    assert second["sub"] == claims["sub"]
    assert len(_links(fc_app)) == 1


def test_mismatch_explains_and_links_nothing(fc_app, fc_user, family, outbox):
    user = fc_user("pierre")
    response = user.full_login()
    refused = submit(user.browser, response, {"mobile": family["mobile"]})
    assert refused.status_code == 403
    assert "Contactez l&#39;établissement" in refused.text
    assert _links(fc_app) == [] and outbox.all() == []


def test_user_cancelling_at_franceconnect_returns_to_the_login_page(fc_user, fc_app):
    user = fc_user("claire")
    callback = user.authenticate_upstream(user.start(), action="cancel")
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    response = user.back(callback)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_upstream_faults_show_a_clear_page_and_link_nothing(fc_app, fc_user, fc_sim):
    for fault in ("500", "bad_signature", "wrong_nonce", "expired", "wrong_iss", "wrong_aud",
                  "alg_none", "timeout"):
        fc_sim.faults(token=fault)
        user = fc_user("claire")
        response = user.full_login()
        assert response.status_code == 502, fault
        assert "FranceConnect est momentanément indisponible" in response.text, fault
        assert "identifiant EduConnect" in response.text
    # FranceConnect v2 signs its userinfo: plain JSON could come from anybody on the way.
    for fault in ("bad_signature", "json"):
        fc_sim.faults(userinfo=fault)
        response = fc_user("claire").full_login()
        assert response.status_code == 502, fault
        assert "FranceConnect est momentanément indisponible" in response.text, fault
    assert _links(fc_app) == []


def test_bad_state_is_refused(fc_app, fc_user):
    user = fc_user("claire")
    callback = user.authenticate_upstream(user.start())
    forged = callback.replace("state=", "state=x")
    response = user.back(forged)
    assert response.status_code == 400
    # Another browser cannot finish a login this browser started.
    thief = fc_user("claire")
    assert thief.back(callback).status_code == 400


def test_unknown_kid_refetches_the_upstream_keys(fc_app, fc_user, fc_sim, family, outbox):
    fc_user("claire").full_login()
    fc_sim.rotate_keys()
    response = fc_user("claire").full_login()
    assert response.status_code == 302
    assert "/identification" in response.headers["Location"]


def test_upstream_unreachable_before_redirect(fc_app, fc_user, fc_sim, app):
    client = fc_app.extensions["idp"].franceconnect
    saved = client.issuer, client._metadata
    client.issuer, client._metadata = "http://127.0.0.1:1/api/v2", None
    try:
        user = fc_user("claire")
        response = user.browser.post("/federation/franceconnect/connexion",
                                     data={"csrf_token": _csrf(user)})
    finally:
        client.issuer, client._metadata = saved
    assert response.status_code == 502


def test_link_and_unlink_from_the_account_page(fc_app, fc_user, make_account):
    # testfc1 is Stéphane Louis Perceval DUPONT at FranceConnect.
    person = make_account("s.dupont", given_name="Stéphane", family_name="Dupont")
    user = fc_user("testfc1")
    login = user.browser.post("/login", data={"csrf_token": _csrf(user),
                                              "identifier": person["identifier"],
                                              "password": person["password"]})
    assert login.status_code == 302
    start = user.browser.post("/federation/franceconnect/lier",
                              data={"csrf_token": _csrf(user),
                                    "current_password": person["password"]})
    callback = user.authenticate_upstream(start.headers["Location"])
    linked = user.back(callback)
    assert linked.headers["Location"].endswith("/compte")
    links = _links(fc_app)
    assert [link.account_id for link in links] == [person["id"]]
    # The next FranceConnect login of that person lands on this account.
    later = fc_user("testfc1").full_login()
    assert later.status_code == 302 and later.headers["Location"].endswith("/compte")
    user.browser.post("/federation/franceconnect/delier", data={"csrf_token": _csrf(user)})
    assert _links(fc_app) == []


def test_logout_goes_through_franceconnect_and_back_channel(fc_app, fc_user, make_client,
                                                            family, outbox, backchannel):
    reg = make_client(backchannel_logout_uri=backchannel.url)
    user = fc_user("claire")
    relying = RelyingParty(user.browser, reg)
    start = relying.authorize()
    done = identify(user, user.full_login(start.headers["Location"].split("flow=")[1]),
                     family, outbox)
    tokens = relying.token(relying.follow_to_callback(done)["code"]).json
    logout = user.browser.get("/logout", query_string={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://rp.example.org/logged-out", "state": "bye"})
    upstream = logout.headers["Location"]
    assert upstream.startswith(user.sim.issuer + "/session/end")
    assert "id_token_hint=" in upstream and "state=" in upstream
    back = user.fc.get(upstream, allow_redirects=False, timeout=10)
    ours = back.headers["Location"]
    assert ours.startswith("http://localhost/federation/franceconnect/deconnexion")
    final = user.back(ours)
    assert final.headers["Location"] == "https://rp.example.org/logged-out?state=bye"
    assert len(backchannel.received) == 1
    silent = relying.authorize(prompt="none")
    assert query_of(silent.headers["Location"])["error"] == "login_required"
