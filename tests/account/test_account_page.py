"""The account page ("Mon compte"), driven like a person would: identity, password,
e-mail address, mobile, children, logging out everywhere."""

import html
import re

from idp.extensions import db
from idp.models import SsoSession
from idp.services import accounts
from tests.conftest import RelyingParty
from tests.conftest import csrf_from
from tests.recovery.conftest import NEW_PASSWORD
from tests.recovery.conftest import PASSWORD
from tests.recovery.conftest import account_row
from tests.recovery.conftest import events
from tests.recovery.conftest import link_in
from tests.recovery.conftest import login
from tests.recovery.conftest import submit


def _logged_in(app, person, relying_party=None):
    """A browser logged in (through a service when given); returns (browser, tokens)."""
    if relying_party is None:
        browser = app.test_client()
        assert login(browser, person["identifier"], person["password"]).status_code == 302
        return browser, None
    callback = relying_party.code_flow(person["identifier"], person["password"])
    return relying_party.browser, relying_party.token(callback["code"]).json


def _service(app, make_client, backchannel):
    return RelyingParty(app.test_client(), make_client(backchannel_logout_uri=backchannel.url))


def _userinfo(app, tokens):
    return app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})


def _live_sessions(app, account_id):
    with app.app_context():
        return db.session.execute(db.select(SsoSession).where(
            SsoSession.account_id == account_id, SsoSession.ended_at.is_(None))).scalars().all()


def test_pages_need_a_session(client):
    for path in ("/compte", "/compte/mot-de-passe", "/compte/courriel", "/compte/telephone",
                 "/compte/telephone/code", "/compte/enfants/1/mot-de-passe"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.post("/compte/deconnexion-partout").status_code == 400


def test_the_page_shows_identity_contacts_and_confirmed_children(app, make_parent):
    parent = make_parent(primary=("Malo",))
    browser, _ = _logged_in(app, parent)
    page = html.unescape(browser.get("/compte").text)
    assert parent["identifier"] in page and "DURAND" in page and "Claire" in page
    assert "+33612345678" in page and "Parent ou responsable légal" in page
    assert "Enora DURAND" in page and "Malo DURAND" in page
    # Only the child at primary school can have a password reset by the parent.
    assert page.count("Réinitialiser le mot de passe") == 1
    # The FranceConnect section is added with the federation, not here.
    assert "FranceConnect" not in page


def test_change_password_needs_the_current_one_and_ends_the_other_sessions(
        app, make_parent, make_client, backchannel, outbox):
    parent = make_parent()
    elsewhere, other_tokens = _logged_in(app, parent, _service(app, make_client, backchannel))
    here, here_tokens = _logged_in(app, parent, _service(app, make_client, backchannel))
    wrong = submit(here, "/compte/mot-de-passe", {"current_password": "Pas-le-bon-1",
                                                 "password": NEW_PASSWORD,
                                                 "confirmation": NEW_PASSWORD})
    assert wrong.status_code == 401 and "Le mot de passe actuel est incorrect" in wrong.text
    weak = submit(here, "/compte/mot-de-passe", {"current_password": PASSWORD,
                                                "password": "azerty123",
                                                "confirmation": "azerty123"})
    assert weak.status_code == 422 and "trop courant" in weak.text
    same = submit(here, "/compte/mot-de-passe", {"current_password": PASSWORD,
                                                "password": PASSWORD, "confirmation": PASSWORD})
    assert same.status_code == 422
    cookie_name = app.config["SESSION_COOKIE_NAME_SSO"]
    old_cookie = here.get_cookie(cookie_name).value
    done = submit(here, "/compte/mot-de-passe", {"current_password": PASSWORD,
                                                "password": NEW_PASSWORD,
                                                "confirmation": NEW_PASSWORD})
    assert done.status_code == 302
    assert "Votre mot de passe a été modifié" in html.unescape(here.get("/compte").text)
    # This session goes on under a new cookie: a copy of the old one opens nothing.
    assert here.get_cookie(cookie_name).value != old_cookie
    copy = app.test_client()
    copy.set_cookie(cookie_name, old_cookie)
    assert copy.get("/compte").status_code == 302
    # This session and its tokens stay; the other session and its tokens end.
    assert elsewhere.get("/compte").status_code == 302
    assert _userinfo(app, other_tokens).status_code == 401
    assert _userinfo(app, here_tokens).status_code == 200
    assert len(backchannel.received) == 1
    assert "vient d'être modifié" in outbox.all()[-1]["body"]
    assert login(app.test_client(), parent["identifier"], NEW_PASSWORD).status_code == 302
    reasons = [e.details["reason"] for e in events(app, "account.password_change_refused")]
    assert reasons == ["wrong_password"]
    assert events(app, "account.password_changed")[0].details["tokens_revoked"] == 1


def test_guessing_the_current_password_is_limited(app, make_parent):
    parent = make_parent()
    browser, _ = _logged_in(app, parent)
    for _ in range(5):
        submit(browser, "/compte/mot-de-passe", {"current_password": "Pas-le-bon-1",
                                                 "password": NEW_PASSWORD,
                                                 "confirmation": NEW_PASSWORD})
    limited = submit(browser, "/compte/mot-de-passe", {"current_password": PASSWORD,
                                                       "password": NEW_PASSWORD,
                                                       "confirmation": NEW_PASSWORD})
    assert limited.status_code == 429 and "Trop d&#39;essais" in limited.text
    assert account_row(app, parent["id"]).security_stamp == 0


def test_change_email_is_confirmed_by_a_link_sent_to_the_new_address(app, make_pupil,
                                                                    outbox):
    pupil = make_pupil(email="ancienne@example.org")
    browser, _ = _logged_in(app, pupil)
    invalid = submit(browser, "/compte/courriel", {"email": "pas une adresse",
                                                   "current_password": PASSWORD})
    assert invalid.status_code == 422
    # The open session is not enough: the current password confirms the change.
    for typed, status in (("", 422), ("Pas-le-bon-1", 401)):
        refused = submit(browser, "/compte/courriel", {"email": "nouvelle@example.org",
                                                       "current_password": typed})
        assert refused.status_code == status and "mot de passe actuel" in refused.text
    assert outbox.all() == []
    sent = submit(browser, "/compte/courriel", {"email": "nouvelle@example.org",
                                                "current_password": PASSWORD})
    assert sent.status_code == 302
    assert "Un lien de confirmation a été envoyé à nouvelle@example.org" in \
        html.unescape(browser.get("/compte").text)
    # Nothing changes until the link is used.
    assert account_row(app, pupil["id"]).email == "ancienne@example.org"
    to_old = [m for m in outbox.all() if m["to"] == "ancienne@example.org"]
    assert len(to_old) == 1 and "Une nouvelle adresse électronique" in to_old[0]["body"]
    [confirmation] = [m for m in outbox.all() if m["to"] == "nouvelle@example.org"]
    link = link_in(confirmation)
    assert link.startswith("/activation/courriel/")
    confirmed = submit(browser, link, {})
    assert "Adresse électronique confirmée" in html.unescape(confirmed.text)
    row = account_row(app, pupil["id"])
    assert row.email == "nouvelle@example.org" and row.email_verified
    trail = [e.event for e in events(app)]
    assert "account.email_change_requested" in trail and "email.confirmed" in trail


def test_change_mobile_is_confirmed_by_an_sms_code(app, make_parent, outbox):
    parent = make_parent()
    browser, _ = _logged_in(app, parent)
    landline = submit(browser, "/compte/telephone", {"mobile": "01 23 45 67 89",
                                                     "current_password": PASSWORD})
    assert landline.status_code == 422
    # The open session is not enough: the current password confirms the change.
    refused = submit(browser, "/compte/telephone", {"mobile": "07 11 22 33 44",
                                                    "current_password": "Pas-le-bon-1"})
    assert refused.status_code == 401 and "Le mot de passe actuel est incorrect" in refused.text
    assert outbox.all() == []
    step = submit(browser, "/compte/telephone", {"mobile": "07 11 22 33 44",
                                                 "current_password": PASSWORD})
    assert "/compte/telephone/code?f=" in step.headers["Location"]
    wrong = submit(browser, step, {"code": "000000"})
    assert wrong.status_code == 401 and "Il vous reste 2 essai(s)" in wrong.text
    # The flow belongs to this account: another person's browser cannot use it.
    stranger, _ = _logged_in(app, _other_parent(app))
    assert stranger.get(step.headers["Location"]).status_code == 400
    done = submit(browser, step, {"code": outbox.last_code("+33711223344")})
    assert done.status_code == 302
    row = account_row(app, parent["id"])
    assert row.phone_number == "+33711223344" and row.phone_number_verified
    to_old = [m for m in outbox.all() if m["to"] == parent["phone"]]
    assert len(to_old) == 1 and "a été remplacé" in to_old[0]["body"]
    trail = [e.event for e in events(app)]
    for event in ("account.phone_change_refused", "account.phone_code_sent",
                  "account.phone_code_refused",
                  "account.phone_changed", "account.contact_change_notified"):
        assert event in trail, event


def test_an_account_without_password_changes_its_mobile_with_its_session(app, make_parent,
                                                                         outbox):
    # A parent who only logs in through FranceConnect has no password to give (nor to
    # be reset through the new number).
    parent = make_parent()
    browser, _ = _logged_in(app, parent)
    with app.app_context():
        row = account_row(app, parent["id"])
        row.password_hash = None
        db.session.add(row)
        db.session.commit()
    page = browser.get("/compte/telephone")
    assert page.status_code == 200 and "current_password" not in page.text
    step = submit(browser, "/compte/telephone", {"mobile": "07 11 22 33 44"})
    assert "/compte/telephone/code?f=" in step.headers["Location"]


def _other_parent(app):
    with app.app_context():
        accounts.create(app.extensions["idp"].passwords, identifier="p.autre1",
                              password=PASSWORD, role="responsable")
        db.session.commit()
    return {"identifier": "p.autre1", "password": PASSWORD}


def test_parent_resets_a_first_degree_childs_password(
        app, make_parent, make_pupil, make_client, backchannel, family):
    parent = make_parent(primary=("Malo",))
    malo = make_pupil("Malo", email=None)
    child_browser, child_tokens = _logged_in(app, malo, _service(app, make_client, backchannel))
    browser, _ = _logged_in(app, parent)
    home = browser.get("/compte").text
    url = re.search(r'href="(/compte/enfants/\d+/mot-de-passe)"', home).group(1)
    assert url == f"/compte/enfants/{family['pupils']['Malo']}/mot-de-passe"
    shown = submit(browser, url, {})
    assert shown.status_code == 200
    password = re.search(r'idp-provisional-password">([^<]+)<', shown.text).group(1)
    assert malo["identifier"] in shown.text
    # The child's session and tokens end; the provisional password leads to activation.
    assert child_browser.get("/compte").status_code == 302
    assert _userinfo(app, child_tokens).status_code == 401
    assert len(backchannel.received) == 1
    first_login = login(app.test_client(), malo["identifier"], password)
    assert "/activation/compte/mot-de-passe" in first_login.headers["Location"]
    row = account_row(app, malo["id"])
    assert row.status == "provisional" and row.provisional_expires_at is not None
    [event] = events(app, "account.child_password_reset")
    assert event.account_id == malo["id"] and event.details["by"] == parent["identifier"]


def test_a_parent_cannot_reset_other_pupils(app, make_parent, family):
    parent = make_parent(primary=("Malo",))
    browser, _ = _logged_in(app, parent)
    csrf = csrf_from(browser.get("/compte").text)
    enora = family["pupils"]["Enora"]  # at collège: she recovers by e-mail
    for pupil_id in (enora, 999999, 10**30):
        url = f"/compte/enfants/{pupil_id}/mot-de-passe"
        assert browser.get(url).status_code == 404
        assert browser.post(url, data={"csrf_token": csrf}).status_code == 403
    # Another parent cannot reset Malo either.
    stranger, _ = _logged_in(app, _other_parent(app))
    url = f"/compte/enfants/{family['pupils']['Malo']}/mot-de-passe"
    csrf = csrf_from(stranger.get("/compte").text)
    assert stranger.post(url, data={"csrf_token": csrf}).status_code == 403
    assert len(events(app, "account.child_reset_refused")) == 4


def test_log_out_everywhere_ends_every_session_and_token(
        app, make_parent, make_client, backchannel):
    parent = make_parent()
    elsewhere, other_tokens = _logged_in(app, parent, _service(app, make_client, backchannel))
    here, here_tokens = _logged_in(app, parent, _service(app, make_client, backchannel))
    response = submit(here, "/compte", {}, form="/compte/deconnexion-partout")
    assert response.status_code == 302
    for browser in (here, elsewhere):
        assert browser.get("/compte").headers["Location"].endswith("/login")
    for tokens in (here_tokens, other_tokens):
        assert _userinfo(app, tokens).status_code == 401
    assert len(backchannel.received) == 2
    assert _live_sessions(app, parent["id"]) == []
    assert len(events(app, "account.logged_out_everywhere")) == 1


def test_log_out_here_keeps_the_other_sessions(app, make_parent):
    parent = make_parent()
    elsewhere, _ = _logged_in(app, parent)
    here, _ = _logged_in(app, parent)
    response = submit(here, "/compte", {}, form="/compte/deconnexion")
    assert response.status_code == 302
    assert here.get("/compte").status_code == 302
    assert elsewhere.get("/compte").status_code == 200
