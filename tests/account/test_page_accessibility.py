"""What the account pages tell people, and how (RGAA): three distinct "Afficher"
checkboxes and a mismatched confirmation on its own field when changing the password;
the new number masked but readable aloud, a new code announced and the resend delay a
status, not the code field's error; flashed confirmations announced; error pages that
say where their button goes."""

import html
import re

from tests.activation.conftest import field
from tests.activation.conftest import notices
from tests.activation.conftest import summary
from tests.activation.conftest import title
from tests.recovery.conftest import NEW_PASSWORD
from tests.recovery.conftest import login
from tests.recovery.conftest import submit


def _logged_in(app, person):
    browser = app.test_client()
    assert login(browser, person["identifier"], person["password"]).status_code == 302
    return browser


def test_password_change_names_each_checkbox_and_marks_the_confirmation(app, make_parent):
    parent = make_parent()
    browser = _logged_in(app, parent)
    page = browser.get("/compte/mot-de-passe")
    assert re.findall(r'type="checkbox" aria-label="([^"]+)"', page.text) == [
        "Afficher le mot de passe actuel", "Afficher le nouveau mot de passe",
        "Afficher la confirmation du nouveau mot de passe"]
    mismatch = submit(browser, "/compte/mot-de-passe", {
        "current_password": parent["password"], "password": NEW_PASSWORD,
        "confirmation": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422
    assert summary(mismatch) == [("#confirmation",
                                  "Les deux mots de passe saisis ne sont pas identiques.")]
    assert 'aria-invalid="true"' in field(mismatch, "confirmation")
    assert "aria-invalid" not in field(mismatch, "password")
    assert title(mismatch) == "Erreur - Changer mon mot de passe - EduConnect"


def test_a_changed_password_is_announced_on_the_account_page(app, make_parent):
    parent = make_parent()
    browser = _logged_in(app, parent)
    done = submit(browser, "/compte/mot-de-passe", {
        "current_password": parent["password"], "password": NEW_PASSWORD,
        "confirmation": NEW_PASSWORD})
    home = browser.get(done.headers["Location"])
    [(level, role, message)] = notices(home)
    assert (level, role) == ("success", "status")
    assert message.startswith("Succès : Votre mot de passe a été modifié.")


def test_the_mobile_code_page_masks_the_number_and_answers_resends_with_statuses(
        app, make_parent, outbox):
    parent = make_parent()
    browser = _logged_in(app, parent)
    step = submit(browser, "/compte/telephone", {"mobile": "07 11 22 33 44",
                                                 "current_password": parent["password"]})
    page = browser.get(step.headers["Location"])
    assert ('<span aria-hidden="true">07 •• •• 33 44</span><span class="fr-sr-only">'
            'numéro se terminant par 33 44</span>') in page.text
    assert "au bout de 60 secondes" in html.unescape(page.text)
    too_soon = submit(browser, step, {"action": "resend"})
    assert too_soon.status_code == 429
    assert title(too_soon) == "Code reçu par SMS - EduConnect"
    assert summary(too_soon) == [] and "aria-invalid" not in field(too_soon, "code")
    [(level, role, message)] = notices(too_soon)
    assert (level, role) == ("info", "status")
    assert "Vous pourrez en demander un nouveau dans" in message


def test_an_expired_number_change_offers_to_start_again(app, make_parent):
    browser = _logged_in(app, make_parent())
    page = browser.get("/compte/telephone/code?f=inconnu")
    assert page.status_code == 400
    assert title(page) == "Erreur - Demande expirée - EduConnect"
    assert '<a class="fr-btn" href="/compte/telephone">Recommencer</a>' in page.text
