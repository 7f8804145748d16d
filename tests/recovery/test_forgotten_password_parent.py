"""Forgotten password of a parent: identifier and mobile, a code by SMS, a new password;
every session and token of the account ends."""

import html
import time
from datetime import timedelta

from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.recovery import service
from idp.services import phone_codes
from tests.conftest import RelyingParty
from tests.conftest import csrf_from
from tests.recovery.conftest import NEW_PASSWORD
from tests.recovery.conftest import account_row
from tests.recovery.conftest import events
from tests.recovery.conftest import login
from tests.recovery.conftest import submit

CODE_PAGE = "un code à 6 chiffres vient d'être envoyé par SMS"


def _request(client, identifier, mobile="06 12 34 56 78"):
    return submit(client, "/recuperation/mot-de-passe/parent",
                  {"identifier": identifier, "mobile": mobile})


def _lock(app, account_id):
    with app.app_context():
        account = db.session.get(Account, account_id)
        account.failed_logins = 9
        account.locked_until = utcnow() + timedelta(hours=1)
        db.session.commit()


def test_parent_resets_the_password_and_every_session_ends(
        app, client, make_parent, make_client, backchannel, outbox):
    parent = make_parent()
    # The parent is logged in to a service, whose tokens must die with the old password.
    service_browser = app.test_client()
    relying = RelyingParty(service_browser, make_client(backchannel_logout_uri=backchannel.url))
    callback = relying.code_flow(parent["identifier"], parent["password"])
    old_tokens = relying.token(callback["code"]).json
    bearer = {"Authorization": f"Bearer {old_tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    _lock(app, parent["id"])

    code_step = _request(client, parent["identifier"].upper(), "+33612345678")
    assert code_step.status_code == 302
    page = client.get(code_step.headers["Location"])
    assert CODE_PAGE in html.unescape(page.text)
    # The number as the parent writes it; screen readers hear its end, not the bullets.
    assert '<span aria-hidden="true">06 •• •• 56 78</span>' in page.text
    assert '<span class="fr-sr-only">numéro se terminant par 56 78</span>' in page.text
    [sms] = outbox.all()
    assert sms["to"] == parent["phone"] and "nouveau mot de passe" in sms["body"]
    code = outbox.last_code(parent["phone"])
    wrong = submit(client, code_step, {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 401 and "Il vous reste 2 essai(s)" in wrong.text
    new_step = submit(client, code_step, {"code": code})
    assert "/recuperation/mot-de-passe/parent/nouveau" in new_step.headers["Location"]
    form = client.get(new_step.headers["Location"])
    assert parent["identifier"] in form.text
    weak = submit(client, new_step, {"password": "azerty123", "confirmation": "azerty123"})
    assert weak.status_code == 422 and "trop courant" in weak.text
    done = submit(client, new_step, {"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD})
    assert done.status_code == 200 and "Mot de passe modifié" in done.text
    assert 'href="/login"' in done.text

    # The old token is dead, the service was told, the service browser's session is over.
    assert client.get("/userinfo", headers=bearer).status_code == 401
    assert len(backchannel.received) == 1
    assert service_browser.get("/compte").headers["Location"].endswith("/login")
    assert relying.refresh(old_tokens["refresh_token"]).status_code == 400
    # The person is told, the account is unlocked, only the new password works.
    notice = outbox.all()[-1]
    assert notice["to"] == parent["phone"] and "vient d'être modifié" in notice["body"]
    assert "si vous n'êtes pas à l'origine" in notice["body"].lower()
    row = account_row(app, parent["id"])
    assert row.locked_until is None and row.failed_logins == 0
    assert login(app.test_client(), parent["identifier"], parent["password"]).status_code == 401
    assert login(app.test_client(), parent["identifier"], NEW_PASSWORD).status_code == 302
    # The page cannot be used twice.
    again = client.post(new_step.headers["Location"].split("?")[0],
                        data={"f": new_step.headers["Location"].split("f=")[1],
                              "password": "Autre-Phrase-Longue-7",
                              "confirmation": "Autre-Phrase-Longue-7",
                              "csrf_token": _csrf(client)})
    assert again.status_code == 400
    trail = [e.event for e in events(app)]
    for event in ("recovery.password_requested", "recovery.code_sent", "recovery.code_refused",
                  "recovery.code_verified", "password.changed", "recovery.password_reset",
                  "session.ended", "logout.backchannel", "account.password_change_notified"):
        assert event in trail, event
    ended = [e for e in events(app, "session.ended") if e.details["reason"] == "password_reset"]
    assert len(ended) == 1


def _csrf(client):
    return csrf_from(client.get("/recuperation/mot-de-passe/parent").text)


def test_unknown_identifier_or_other_mobile_gets_the_same_code_page_and_nothing(
        app, client, make_parent, make_pupil, outbox):
    parent = make_parent()
    pupil = make_pupil()
    for identifier, mobile in ((parent["identifier"], "06 98 76 54 32"),
                               ("p.personne99", "06 12 34 56 78"),
                               (pupil["identifier"], "06 12 34 56 78")):
        step = _request(client, identifier, mobile)
        assert step.status_code == 302
        assert "/recuperation/mot-de-passe/parent/code?f=" in step.headers["Location"]
        assert CODE_PAGE in html.unescape(client.get(step.headers["Location"]).text)
        # Checking a code fails as a wrong code does, three times, then asks for another.
        first = submit(client, step, {"code": "123456"})
        assert first.status_code == 401 and "Il vous reste 2 essai(s)" in first.text
        submit(client, step, {"code": "123457"})
        third = submit(client, step, {"code": "123458"})
        assert "trop de codes incorrects" in third.text
    assert outbox.all() == []
    outcomes = [e.details["outcome"] for e in events(app, "recovery.password_requested")]
    assert outcomes == ["not_eligible", "unknown", "not_eligible"]


def test_a_new_code_after_60_seconds_whether_or_not_the_account_exists(
        app, client, make_parent, outbox, monkeypatch):
    parent = make_parent()
    known = _request(client, parent["identifier"])
    unknown = _request(client, "p.personne99")
    now = [time.time()]
    monkeypatch.setattr(service.time, "time", lambda: now[0])
    for step in (known, unknown):
        too_soon = submit(client, step, {"action": "resend"})
        assert too_soon.status_code == 429
        assert "Vous pourrez demander un nouveau code dans" in too_soon.text
    now[0] += 61
    for step in (known, unknown):
        again = submit(client, step, {"action": "resend"})
        assert again.status_code == 200
        assert "un nouveau code vous a été envoyé" in again.text
    assert len(outbox.all()) == 2
    # The new code works; the first one no longer does.
    codes = [m["body"] for m in outbox.all()]
    assert codes[0] != codes[1]
    assert submit(client, known, {"code": outbox.last_code(parent["phone"])}).status_code == 302
    assert len(events(app, "recovery.code_requested_again")) == 2


def test_a_code_is_valid_ten_minutes(app, client, make_parent, outbox, monkeypatch):
    parent = make_parent()
    step = _request(client, parent["identifier"])
    later = time.time() + 601
    monkeypatch.setattr(phone_codes.time, "time", lambda: later)
    expired = submit(client, step, {"code": outbox.last_code(parent["phone"])})
    assert expired.status_code == 401 and "Ce code a expiré" in expired.text


def test_parent_without_a_password_of_their_own_is_told_to_use_franceconnect(
        app, client, make_parent, outbox):
    parent = make_parent(password=None)
    step = _request(client, parent["identifier"])
    assert step.status_code == 302
    [sms] = outbox.all()
    assert "FranceConnect" in sms["body"] and sms["to"] == parent["phone"]
    # No code exists: whatever is typed fails like a wrong code.
    assert submit(client, step, {"code": "123456"}).status_code == 401
    assert [e.event for e in events(app, "recovery.franceconnect_told")]


def test_requests_are_limited_per_account_even_unknown_ones(client, make_parent, outbox):
    parent = make_parent()
    for identifier in (parent["identifier"], "p.personne99"):
        for number in range(5):
            assert _request(client, identifier, f"06 00 00 00 0{number}").status_code == 302
        refused = _request(client, identifier, "06 00 00 00 09")
        assert refused.status_code == 429 and "trop de demandes" in refused.text
    assert outbox.all() == []


def test_a_finished_or_unknown_flow_shows_an_expiry_page(client):
    assert client.get("/recuperation/mot-de-passe/parent/code?f=nope").status_code == 400
    assert client.get("/recuperation/mot-de-passe/parent/nouveau").status_code == 400
    assert client.get("/recuperation/mot-de-passe/parent/nouveau?f=" + "x" * 500)\
        .status_code == 400
