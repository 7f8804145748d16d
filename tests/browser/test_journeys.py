"""End-to-end journeys in Debian's Chromium, through the demo client, with axe-core
on every page they show.

Journeys that exist today: a parent logs in and sees "Mes services"; single sign-on
to a second service; logout from the service (RP-initiated, with back-channel
logout to every service of the session); a wrong password. Activation, recovery and
FranceConnect journeys join this file with those features.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import chromium_available
from tests.browser.stack import PARENT
from tests.browser.stack import PUPIL

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(),
                       reason=f"no Chromium at {CHROMIUM} (set IDP_TEST_CHROMIUM)"),
]


def path_of(url: str) -> str:
    return urlsplit(url).path


def identifier_field(page):
    """The identifier field, found by its accessible name ("Identifiant" + its hint)."""
    return page.get_by_role("textbox", name=re.compile(r"^Identifiant\b"))


def fill_login(page, identifier, password):
    """Fill in the hosted login form and submit it."""
    identifier_field(page).fill(identifier)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def login_through(page, axe, stack, client, identifier, password):
    """From the service's home page to its "Mes services", through the login form."""
    page.goto(client.base_url + "/")
    axe.check(page, f"{client.name}: accueil")
    page.get_by_role("link", name="Se connecter avec EduConnect").click()
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/login\?flow="))
    assert page.title() == "Connexion - EduConnect"
    # The login page names the service the person is going to.
    assert client.name in page.locator("main").inner_text()
    axe.check(page, "EduConnect: connexion")
    fill_login(page, identifier, password)
    page.wait_for_url(client.base_url + "/services")


def test_axe_core_is_available(axe):
    """Make a missing axe-core visible as a skip with its reason, never a silent pass."""
    if axe.source is None:
        pytest.skip(f"axe-core unavailable, accessibility checks skipped: {axe.reason}")


def test_parent_logs_in_and_sees_mes_services(page, axe, stack):
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PARENT)

    assert page.title() == f"Mes services - {main.name}"
    assert page.get_by_role("heading", level=1).inner_text() == "Mes services"
    assert "Claire DURAND" in page.locator(".sc-userbar").inner_text()
    id_token = page.locator("pre.sc-json").first.inner_text()
    assert f'"iss": "{stack.issuer}"' in id_token
    assert f'"aud": "{main.client_id}"' in id_token
    for claim in ('"nonce"', '"sid"', '"at_hash"', '"alg": "RS256"', '"kid"'):
        assert claim in id_token
    userinfo = page.locator("pre.sc-json").nth(1).inner_text()
    assert '"preferred_username": "s.legrand1"' in userinfo
    axe.check(page, f"{main.name}: mes services")

    children = page.locator(".sc-children a")
    if children.count():
        # With the directory's `children` claim: choose a child, then a service.
        children.first.click()
        services = page.locator(".sc-services").inner_text()
        assert "Fiche de renseignements" in services
        axe.check(page, f"{main.name}: services d'un enfant")
    else:
        assert "Aucun enfant à afficher" in page.locator("main").inner_text() or \
            "Profil non communiqué" in page.locator("main").inner_text()

    page.set_viewport_size({"width": 320, "height": 640})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320


def test_pupil_logs_in_and_sees_own_services(page, axe, stack):
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PUPIL)
    assert page.get_by_role("heading", level=1).inner_text() == "Mes services"
    text = page.locator("main").inner_text()
    assert "Livret scolaire" in text or "Profil non communiqué" in text
    axe.check(page, f"{main.name}: mes services (élève)")


def test_sso_to_a_second_service_skips_the_login_form(page, axe, stack):
    main, second = stack.clients["main"], stack.clients["second"]
    login_through(page, axe, stack, main, *PARENT)

    visited = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(second.base_url + "/")
    axe.check(page, f"{second.name}: accueil")
    page.get_by_role("link", name="Se connecter avec EduConnect").click()
    page.wait_for_url(second.base_url + "/services")

    assert not [u for u in visited if u.startswith(stack.issuer) and path_of(u) == "/login"], \
        visited
    assert page.title() == f"Mes services - {second.name}"
    assert f'"aud": "{second.client_id}"' in page.locator("pre.sc-json").first.inner_text()
    axe.check(page, f"{second.name}: mes services")


def test_logout_ends_the_session_and_reaches_every_service(page, axe, stack):
    main, second = stack.clients["main"], stack.clients["second"]
    login_through(page, axe, stack, main, *PARENT)
    page.goto(second.base_url + "/login")
    page.wait_for_url(second.base_url + "/services")

    page.goto(main.base_url + "/services")
    page.get_by_role("button", name="Se déconnecter").click()
    # RP-initiated logout with id_token_hint: no confirmation; back with our state.
    page.wait_for_url(main.base_url + "/")
    notices = page.locator(".sc-notice").inner_text()
    assert f"Vous êtes déconnecté de {main.name} et d'EduConnect." in notices
    assert "Déconnexion back-channel reçue" in page.locator(".sc-events").inner_text()
    axe.check(page, f"{main.name}: déconnecté")

    # The provider told the second service too: its local session is gone.
    page.goto(second.base_url + "/services")
    page.wait_for_url(second.base_url + "/")
    assert "Votre session a pris fin" in page.locator(".sc-notice").inner_text()
    assert "1 session fermée" in page.locator(".sc-events").inner_text()
    axe.check(page, f"{second.name}: session terminée")

    # And the provider's own session is over.
    page.goto(stack.issuer + "/compte")
    assert path_of(page.url) == "/login"
    axe.check(page, "EduConnect: connexion après déconnexion")
    page.goto(main.base_url + "/login")
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/login\?flow="))


def test_wrong_password_shows_the_error_summary_linked_to_the_field(page, axe, stack):
    main = stack.clients["main"]
    page.goto(main.base_url + "/login")
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/login\?flow="))
    fill_login(page, PARENT[0], "Pas-le-bon-2026")
    page.wait_for_load_state("load")

    assert page.title() == "Erreur - Connexion - EduConnect"
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert summary.get_by_role("heading").inner_text() == "Le formulaire contient des erreurs"
    # The summary has the focus, so that screen readers announce it first.
    assert page.evaluate("document.activeElement && document.activeElement.id") == \
        "error-summary"
    link = summary.get_by_role("link")
    assert link.count() == 1
    assert link.get_attribute("href") == "#password"
    message = link.inner_text()
    field = page.locator("#password")
    assert field.get_attribute("aria-invalid") == "true"
    described = (field.get_attribute("aria-describedby") or "").split()
    assert described, "the password field is not linked to its error message"
    assert message in page.locator(f"#{described[0]}").inner_text()
    # The identifier is kept, the password is not.
    assert identifier_field(page).input_value() == PARENT[0]
    assert field.input_value() == ""
    axe.check(page, "EduConnect: connexion, erreur de mot de passe")

    link.click()
    assert page.evaluate("document.activeElement && document.activeElement.id") == "password"


@pytest.mark.parametrize("errors", [False, True], ids=["login", "login-with-errors"])
def test_login_page_has_no_horizontal_scroll_at_320px(browser_context, stack, errors):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(stack.clients["main"].base_url + "/login")
    page.wait_for_url(re.compile(re.escape(stack.issuer) + r"/login\?flow="))
    if errors:
        page.get_by_role("button", name="Se connecter", exact=True).click()
        page.wait_for_load_state("load")
        assert page.locator("#error-summary").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"the login page is {width}px wide at 320px"


def test_other_hosted_pages_pass_axe_and_fit_320px(page, axe, stack):
    """The pages around the journeys: account, logout confirmation, logged out,
    help, legal notice, accessibility statement, error pages."""
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PARENT)
    pages = [
        ("compte", "/compte", "Mon compte"),
        # A logout request that does not prove its origin is confirmed by the person.
        ("confirmation de déconnexion", "/logout", "Voulez-vous vous déconnecter ?"),
        ("aide", "/aide", "Besoin d'aide ?"),
        ("mentions légales", "/mentions-legales", None),
        ("accessibilité", "/accessibilite", None),
        ("erreur de demande", "/authorize?client_id=inconnu&redirect_uri=http://x/",
         "Demande de connexion invalide"),
        ("page non trouvée", "/pas-de-page-ici", "Page non trouvée"),
        ("déconnecté", "/logout/done", "Vous êtes déconnecté"),
    ]
    too_wide = []
    for label, path, heading in pages:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(stack.issuer + path)
        if heading:
            assert page.get_by_role("heading", level=1).inner_text() == heading, label
        axe.check(page, f"EduConnect: {label}")
        page.set_viewport_size({"width": 320, "height": 640})
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 320:
            too_wide.append(f"{label}: {width}px")
    assert not too_wide, f"horizontal scroll at 320px: {too_wide}"
