"""What the forgotten-password pages tell people, and how (RGAA): the resend delay as a
status, the time limit, an expired request that starts again for the same service, a
mismatched confirmation on its own field, distinct "Afficher" checkboxes, and no steps
on a pupil's link page, who never saw steps 1 and 2."""

import html
import re
import time

from idp.recovery import service
from tests.activation.conftest import field
from tests.activation.conftest import flow_of
from tests.activation.conftest import notices
from tests.activation.conftest import summary
from tests.activation.conftest import title
from tests.conftest import RelyingParty
from tests.recovery.conftest import NEW_PASSWORD
from tests.recovery.conftest import expire_flow
from tests.recovery.conftest import link_in
from tests.recovery.conftest import submit


def _request(client, identifier, authorize=None):
    start = "/recuperation/mot-de-passe/parent" + (f"?flow={authorize}" if authorize else "")
    return submit(client, start, {"identifier": identifier, "mobile": "06 12 34 56 78"})


def test_the_code_page_says_the_delays_and_answers_a_resend_with_statuses(
        client, make_parent, outbox, monkeypatch):
    parent = make_parent()
    step = _request(client, parent["identifier"])
    text = html.unescape(client.get(step.headers["Location"]).text)
    assert "vous pourrez en demander un nouveau au bout de 60 secondes" in text
    assert "Vous avez 30 minutes pour choisir votre nouveau mot de passe" in text

    too_soon = submit(client, step, {"action": "resend"})
    assert too_soon.status_code == 429
    assert summary(too_soon) == [] and "aria-invalid" not in field(too_soon, "code")
    assert not title(too_soon).startswith("Erreur")
    [(level, role, message)] = notices(too_soon)
    assert (level, role) == ("info", "status")
    assert "Vous pourrez demander un nouveau code dans" in message

    now = [time.time()]
    monkeypatch.setattr(service.time, "time", lambda: now[0])
    # The first code counts: four more may be asked for.
    for _ in range(service.DAILY_LIMIT - 1):
        now[0] += 61
        again = submit(client, step, {"action": "resend"})
        assert notices(again)[0][:2] == ("success", "status")
    now[0] += 61
    refused = submit(client, step, {"action": "resend"})
    [(level, role, message)] = notices(refused)
    assert (level, role) == ("error", "alert") and "trop de codes" in message
    assert title(refused).startswith("Erreur - ")
    assert "aria-invalid" not in field(refused, "code")


def test_an_expired_request_starts_again_for_the_same_service(
        app, client, make_parent, make_client, outbox):
    parent = make_parent()
    relying = RelyingParty(client, make_client())
    authorize = relying.authorize().headers["Location"].split("flow=")[1]
    step = _request(client, parent["identifier"], authorize)
    location = step.headers["Location"]
    assert f"flow={authorize}" in location
    expire_flow(app, flow_of(location), 1800)
    expired = client.get(location)
    assert expired.status_code == 400
    assert title(expired) == "Erreur - Demande expirée - EduConnect"
    assert "30 minutes" in html.unescape(expired.text)
    restart = re.search(r'<a class="fr-btn" href="([^"]+)">Recommencer</a>', expired.text)
    assert html.unescape(restart.group(1)) == f"/recuperation/mot-de-passe?flow={authorize}"


def _new_password_step(client, parent, outbox):
    step = _request(client, parent["identifier"])
    return submit(client, step, {"code": outbox.last_code(parent["phone"])})


def test_a_parents_new_password_page_marks_the_confirmation_when_it_differs(
        client, make_parent, outbox):
    parent = make_parent()
    step = _new_password_step(client, parent, outbox)
    page = client.get(step.headers["Location"].replace("http://localhost", ""))
    assert title(page) == "Étape 3 sur 3 - Nouveau mot de passe - EduConnect"
    assert re.findall(r'type="checkbox" aria-label="([^"]+)"', page.text) == [
        "Afficher le nouveau mot de passe", "Afficher la confirmation du mot de passe"]
    mismatch = submit(client, step, {"password": NEW_PASSWORD, "confirmation": "autre"})
    assert mismatch.status_code == 422
    assert [href for href, _ in summary(mismatch)] == ["#confirmation"]
    assert 'aria-invalid="true"' in field(mismatch, "confirmation")
    assert "aria-invalid" not in field(mismatch, "password")


def test_a_pupils_link_page_shows_no_steps(client, make_pupil, outbox):
    pupil = make_pupil()
    submit(client, "/recuperation/mot-de-passe/eleve", {"identifier": pupil["identifier"]})
    [mail] = [m for m in outbox.all() if m["to"] == pupil["email"]]
    page = client.get(link_in(mail))
    assert title(page) == "Nouveau mot de passe - EduConnect"
    assert "Étape" not in page.text and "fr-stepper" not in page.text
    mismatch = submit(client, link_in(mail), {"password": NEW_PASSWORD,
                                              "confirmation": "autre"})
    assert title(mismatch) == "Erreur - Nouveau mot de passe - EduConnect"
    assert [href for href, _ in summary(mismatch)] == ["#confirmation"]


def test_a_used_link_offers_a_new_request(client):
    page = client.get("/recuperation/mot-de-passe/lien/inconnu")
    assert page.status_code == 400
    assert ('<a class="fr-btn" href="/recuperation/mot-de-passe/eleve">Faire une nouvelle '
            'demande</a>') in page.text
