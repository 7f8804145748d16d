"""What the pages of the FranceConnect first-login identification tell people, and how
(RGAA): the time limit, the typed mobile kept after an error, the masked number, a new
code announced and the resend delay a status, each child named in the error summary,
and an expired identification that goes back to the login of the same service."""

import html
import re
import time

from idp.services import phone_codes
from tests.activation.conftest import field
from tests.activation.conftest import flow_of
from tests.activation.conftest import notices
from tests.activation.conftest import submit
from tests.activation.conftest import summary
from tests.activation.conftest import title
from tests.conftest import RelyingParty
from tests.recovery.conftest import expire_flow


def _start(fc_user, rp):
    """Claire's first FranceConnect login for a service: (user, authorize, response)."""
    user = fc_user("claire")
    relying = RelyingParty(user.browser, rp.reg)
    authorize = relying.authorize().headers["Location"].split("flow=")[1]
    return user, authorize, user.full_login(authorize)


def test_the_mobile_page_says_the_time_limit_and_keeps_the_typed_number(
        fc_app, fc_user, rp, family, outbox):
    user, authorize, response = _start(fc_user, rp)
    location = response.headers["Location"]
    assert f"flow={authorize}" in location
    page = user.browser.get(location)
    assert "Vous aurez 30 minutes pour terminer cette identification" in \
        html.unescape(page.text)
    refused = submit(user.browser, response, {"mobile": "06 12 34"})
    assert refused.status_code == 422
    assert title(refused).startswith("Erreur - ")
    mobile = field(refused, "mobile")
    assert 'value="06 12 34"' in mobile and 'aria-invalid="true"' in mobile
    assert outbox.all() == []


def test_the_code_page_masks_the_number_and_announces_resends(
        fc_app, fc_user, rp, family, outbox, monkeypatch):
    user, _, response = _start(fc_user, rp)
    code_step = submit(user.browser, response, {"mobile": family["mobile"]})
    page = user.browser.get(code_step.headers["Location"])
    assert ('<span aria-hidden="true">06 •• •• 56 78</span><span class="fr-sr-only">'
            'numéro se terminant par 56 78</span>') in page.text
    assert "au bout de 60 secondes" in html.unescape(page.text)

    too_soon = submit(user.browser, code_step, {"action": "resend"})
    assert too_soon.status_code == 429
    assert title(too_soon) == "Étape 2 sur 4 - Code reçu par SMS - EduConnect"
    assert summary(too_soon) == [] and "aria-invalid" not in field(too_soon, "code")
    [(level, role, message)] = notices(too_soon)
    assert (level, role) == ("info", "status")
    assert "Vous pourrez en demander un nouveau dans" in message

    later = time.time() + 61
    monkeypatch.setattr(phone_codes.time, "time", lambda: later)
    sent = submit(user.browser, code_step, {"action": "resend"})
    assert sent.status_code == 200
    assert notices(sent) == [("success", "status",
                              "Succès : Un nouveau code vous a été envoyé.")]
    assert len([m for m in outbox.all() if m["to"] == family["e164"]]) == 2


def test_children_errors_name_each_child(fc_app, fc_user, rp, family, outbox):
    user, _, response = _start(fc_user, rp)
    code_step = submit(user.browser, response, {"mobile": family["mobile"]})
    children = submit(user.browser, code_step, {"code": outbox.last_code(family["e164"])})
    page = submit(user.browser, children, {f"birthdate-{pid}": "01/01/2000"
                                           for pid in family["pupils"].values()})
    assert page.status_code == 422
    texts = [text for _, text in summary(page)]
    assert texts == [
        f"{name} DURAND : la date de naissance ne correspond pas à celle connue de "
        "l'établissement." for name in ("Enora", "Malo")]


def test_an_expired_identification_goes_back_to_the_login_of_the_service(
        fc_app, fc_user, rp, family, outbox):
    user, authorize, response = _start(fc_user, rp)
    code_step = submit(user.browser, response, {"mobile": family["mobile"]})
    location = code_step.headers["Location"]
    expire_flow(fc_app, flow_of(location), 1800)
    expired = user.browser.get(location)
    assert expired.status_code == 400
    assert title(expired) == "Erreur - Session expirée - EduConnect"
    assert "30 minutes" in html.unescape(expired.text)
    back = re.search(r'<a class="fr-btn" href="([^"]+)">Retour à la connexion</a>',
                     expired.text)
    assert html.unescape(back.group(1)) == f"/login?flow={authorize}"
