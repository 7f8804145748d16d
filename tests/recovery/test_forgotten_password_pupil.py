"""Forgotten password of a pupil: a single-use link, valid 30 minutes, sent to the
confirmed address; a pupil without one is sent to a parent or the school."""

import html

from idp.extensions import db
from idp.models import Account
from idp.recovery import service
from tests.conftest import RelyingParty
from tests.conftest import csrf_from
from tests.recovery.conftest import NEW_PASSWORD
from tests.recovery.conftest import events
from tests.recovery.conftest import expire_flow
from tests.recovery.conftest import link_in
from tests.recovery.conftest import login
from tests.recovery.conftest import submit

SENT = "Si ce compte a une adresse électronique confirmée, un courriel vient d'y être envoyé"
NO_MAIL = "Si tu n'as pas confirmé d'adresse électronique, tu ne recevras rien : demande à " \
          "l'un de tes parents"


def _request(client, identifier):
    return submit(client, "/recuperation/mot-de-passe/eleve", {"identifier": identifier})


def _link(outbox, to):
    mails = [m for m in outbox.all() if m["channel"] == "mail" and m["to"] == to]
    assert mails, f"no mail to {to}"
    return link_in(mails[-1])


def test_pupil_resets_the_password_with_the_emailed_link(
        app, client, make_pupil, make_client, backchannel, outbox):
    pupil = make_pupil()
    service_browser = app.test_client()
    relying = RelyingParty(service_browser, make_client(backchannel_logout_uri=backchannel.url))
    old_tokens = relying.token(relying.code_flow(pupil["identifier"], pupil["password"])
                               ["code"]).json

    response = _request(client, pupil["identifier"])
    assert response.headers["Location"] == "/recuperation/mot-de-passe/eleve/envoye"
    page = html.unescape(client.get(response.headers["Location"]).text)
    assert SENT in page and NO_MAIL in page and "30 minutes" in page
    [mail] = outbox.all()
    assert mail["to"] == pupil["email"] and "30 minutes" in mail["body"]
    link = _link(outbox, pupil["email"])
    assert link.startswith("/recuperation/mot-de-passe/lien/")
    # The link is opened on another device; a refused password keeps the link usable.
    phone = app.test_client()
    form = phone.get(link)
    assert form.status_code == 200 and pupil["identifier"] in form.text
    mismatch = submit(phone, link, {"password": NEW_PASSWORD, "confirmation": "autre"})
    assert mismatch.status_code == 422 and "pas identiques" in mismatch.text
    done = submit(phone, link, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert done.status_code == 200 and "Mot de passe modifié" in done.text
    # Used once, never again.
    assert phone.get(link).status_code == 400
    bearer = {"Authorization": f"Bearer {old_tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    assert len(backchannel.received) == 1
    notice = outbox.all()[-1]
    assert notice["to"] == pupil["email"] and "vient d'être modifié" in notice["body"]
    assert login(app.test_client(), pupil["identifier"], NEW_PASSWORD).status_code == 302
    trail = [e.event for e in events(app)]
    for event in ("recovery.password_requested", "recovery.link_sent", "recovery.password_reset",
                  "session.ended", "account.password_change_notified"):
        assert event in trail, event
    assert events(app, "recovery.link_refused")[0].details["reason"] == "expired_or_used"


def test_the_link_expires_after_30_minutes(app, client, make_pupil, outbox):
    pupil = make_pupil()
    _request(client, pupil["identifier"])
    link = _link(outbox, pupil["email"])
    expire_flow(app, link.rsplit("/", 1)[1], service.LINK_TTL)
    expired = client.get(link)
    assert expired.status_code == 400 and "Lien expiré" in expired.text


def test_a_password_change_made_meanwhile_kills_the_link(app, client, make_pupil, outbox):
    pupil = make_pupil()
    _request(client, pupil["identifier"])
    link = _link(outbox, pupil["email"])
    # The pupil remembers the password and changes it from the account page.
    browser = app.test_client()
    assert login(browser, pupil["identifier"], pupil["password"]).status_code == 302
    changed = submit(browser, "/compte/mot-de-passe",
                     {"current_password": pupil["password"], "password": NEW_PASSWORD,
                      "confirmation": NEW_PASSWORD})
    assert changed.status_code == 302
    assert client.get(link).status_code == 400
    assert events(app, "recovery.link_refused")[0].details["reason"] == "stale"


def test_a_form_left_open_cannot_set_a_password_after_another_reset(app, client, make_pupil,
                                                                   outbox):
    pupil = make_pupil()
    _request(client, pupil["identifier"])
    first = _link(outbox, pupil["email"])
    left_open = client.get(first)
    assert left_open.status_code == 200
    _request(client, pupil["identifier"])
    second = _link(outbox, pupil["email"])
    assert submit(client, second, {"password": NEW_PASSWORD,
                                   "confirmation": NEW_PASSWORD}).status_code == 200
    late = client.post(first, data={"csrf_token": csrf_from(left_open.text),
                                    "password": "Autre-Phrase-Longue-7",
                                    "confirmation": "Autre-Phrase-Longue-7"})
    assert late.status_code == 400
    assert login(app.test_client(), pupil["identifier"], NEW_PASSWORD).status_code == 302


def test_without_a_confirmed_address_or_account_the_page_is_the_same_and_nothing_is_sent(
        app, client, make_pupil, outbox):
    known = make_pupil("Enora", email=None)
    unconfirmed = make_pupil("Malo", email="malo@example.org", verified=False)
    locations = {_request(client, identifier).headers["Location"]
                 for identifier in (known["identifier"], unconfirmed["identifier"],
                                    "e.personne99")}
    assert locations == {"/recuperation/mot-de-passe/eleve/envoye"}
    assert NO_MAIL in html.unescape(client.get(locations.pop()).text)
    assert outbox.all() == []
    outcomes = [e.details["outcome"] for e in events(app, "recovery.password_requested")]
    assert outcomes == ["not_eligible", "not_eligible", "unknown"]


def test_requests_are_limited_per_account_and_the_mailbox_silently(app, client, make_pupil,
                                                                   outbox):
    pupil = make_pupil()
    for _ in range(5):
        assert _request(client, pupil["identifier"]).status_code == 302
    refused = _request(client, pupil["identifier"])
    assert refused.status_code == 429 and "trop de demandes" in refused.text
    for _ in range(5):
        assert _request(client, "e.personne99").status_code == 302
    assert _request(client, "e.personne99").status_code == 429
    assert len(outbox.all()) == 5
    # Siblings sharing the address do not bring the mailbox over its own limit.
    sibling = make_pupil("Malo", email=pupil["email"])
    assert _request(client, sibling["identifier"]).status_code == 302
    assert len(outbox.all()) == 5
    assert events(app, "recovery.link_not_sent")[0].details["reason"] == "rate_limited"


def test_bad_links_are_refused_politely(client):
    for token in ("x", "x" * 300, "%00", "..%2F..%2Fetc"):
        response = client.get(f"/recuperation/mot-de-passe/lien/{token}")
        assert response.status_code in (400, 404), token


def test_a_franceconnect_parent_asking_by_email_is_told_to_use_franceconnect(
        app, client, make_parent, outbox):
    parent = make_parent(password=None, phone=False)
    with app.app_context():
        account = db.session.get(Account, parent["id"])
        account.email, account.email_verified = "claire@example.org", True
        db.session.commit()
    assert _request(client, parent["identifier"]).headers["Location"] == \
        "/recuperation/mot-de-passe/eleve/envoye"
    [mail] = outbox.all()
    assert mail["to"] == "claire@example.org" and "FranceConnect" in mail["body"]
    assert "/recuperation/mot-de-passe/lien/" not in mail["body"]
    assert events(app, "recovery.franceconnect_told")[0].details == {"channel": "mail"}
