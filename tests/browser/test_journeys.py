"""End-to-end journeys in Debian's Chromium, through the demo client, with axe-core
on every page they show and no horizontal scroll at 320 px.

The demo family (Sophie LEGRAND and her daughter Jade) logs in and sees "Mes services";
single sign-on to a second service; logout from the service (RP-initiated, with
back-channel logout to every service of the session); a wrong password. Then the
journeys of journeys.py with people of the sample directory who have not activated
their accounts: a pupil's first login with a provisional password, a parent's
self-activation with the SMS code read from the outbox, a FranceConnect first login
through the simulator and the logout through FranceConnect, and the recovery of a
parent's identifier and password.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from tests.browser import journeys
from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import chromium_available
from tests.browser.journeys import CHLOE
from tests.browser.journeys import JADE
from tests.browser.journeys import JEAN_PIERRE
from tests.browser.journeys import LINA
from tests.browser.journeys import NATHALIE
from tests.browser.journeys import NEW_PASSWORD
from tests.browser.journeys import NOAH
from tests.browser.journeys import OTHER_PASSWORD
from tests.browser.journeys import THOMAS
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


def userinfo(page) -> dict:
    """The UserInfo response the demo client shows to integrators."""
    return json.loads(page.locator("pre.sc-json").nth(1).inner_text())


def id_token_claims(page) -> dict:
    """The decoded ID token's claims (the second JSON object of the first block)."""
    text = page.locator("pre.sc-json").first.inner_text()
    return json.loads(text[text.index("}") + 1:])


def check_children_and_services(page, checks, children, name: str) -> None:
    """"Mes services" of a parent: every child with their class, then, for each
    chosen child, the bourse of their stage and the fiche de renseignements."""
    cards = page.locator(".sc-children a").all_inner_texts()
    assert len(cards) == len(children), cards
    for child in children:
        assert any(child.name in card and child.level in card for card in cards), \
            (child, cards)
    for index, child in enumerate(children):
        page.get_by_role("link", name=re.compile("^" + re.escape(child.name))).click()
        page.wait_for_url(re.compile(r"/services\?enfant="))
        current = page.locator(".sc-children a[aria-current]").inner_text()
        assert child.name in current
        services = page.locator(".sc-services").inner_text()
        assert "Fiche de renseignements" in services
        for bourse in ("Bourse de collège", "Bourse de lycée"):
            assert (bourse in services) == (bourse == child.bourse), (child, services)
        if index == 0:
            checks(f"{name}-child")


def test_axe_core_is_available(axe):
    """Make a missing axe-core visible as a skip with its reason, never a silent pass."""
    if axe.source is None:
        pytest.skip(f"axe-core unavailable, accessibility checks skipped: {axe.reason}")


def test_parent_logs_in_and_sees_mes_services(page, axe, stack, checks):
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PARENT)

    assert page.title() == f"Mes services - {main.name}"
    assert page.get_by_role("heading", level=1).inner_text() == "Mes services"
    assert "Sophie LEGRAND" in page.locator(".sc-userbar").inner_text()
    id_token = page.locator("pre.sc-json").first.inner_text()
    assert f'"iss": "{stack.issuer}"' in id_token
    assert f'"aud": "{main.client_id}"' in id_token
    for claim in ('"nonce"', '"sid"', '"at_hash"', '"alg": "RS256"', '"kid"'):
        assert claim in id_token
    info = userinfo(page)
    assert info["preferred_username"] == "s.legrand1"
    assert info["affiliation"] == "responsable"
    assert info["degree"] == ["1d", "2d"]
    # Each child's `sub` is the one the child has at this service.
    assert len({child["sub"] for child in info["children"]}) == 3
    assert "children" in page.locator(".sc-facts").inner_text()
    checks("sample-services-parent")
    # The DSFR and its Marianne font load (from the client's own origin).
    assert page.evaluate("document.fonts.ready.then(fonts => [...fonts].some("
                         "f => f.status === 'loaded'))")
    assert not [m for m in page.console_log.messages if "CORS" in m or "404" in m]
    # Three children in two académies: a bourse by stage, none at the école.
    check_children_and_services(page, checks, (NOAH, JADE, LINA), "sample-services-parent")
    checks.assert_fit()


def test_pupil_logs_in_and_sees_own_services(page, axe, stack, checks):
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PUPIL)
    assert page.get_by_role("heading", level=1).inner_text() == "Mes services"
    info = userinfo(page)
    assert (info["affiliation"], info["school_uai"], info["level"], info["class"]) == \
        ("eleve", "0830901D", "2115", "4A")
    school = page.locator(".sc-school").inner_text()
    assert "Collège des Oliviers" in school and "4e" in school and "classe 4A" in school
    assert "Livret scolaire" in page.locator(".sc-services").inner_text()
    checks("sample-services-pupil")
    page.get_by_role("link", name=re.compile("^Livret scolaire")).click()
    page.wait_for_url(main.base_url + "/demarches/livret-scolaire")
    checks("sample-demarche")
    checks.assert_fit()


# -- activation ---------------------------------------------------------------------------


def test_pupil_activates_the_account_the_school_gave(page, stack, checks):
    """A provisional password from the school (`idp accounts reset`), a password of
    their own, the birth date, no e-mail: the pupil lands on their services."""
    main = stack.clients["main"]
    journeys.pupil_activation(page, stack, main, CHLOE, stack.provisional[CHLOE.identifier],
                              checks)
    info = userinfo(page)
    assert info["preferred_username"] == CHLOE.identifier
    assert info["affiliation"] == "eleve"
    assert CHLOE.name in page.locator(".sc-userbar").inner_text()
    school = page.locator(".sc-school").inner_text()
    assert CHLOE.school in school and CHLOE.level in school
    assert "Livret scolaire" in page.locator(".sc-services").inner_text()
    checks("sample-services-pupil-activated")
    checks.assert_fit()


def test_parent_activates_with_a_code_received_by_sms(page, stack, checks):
    """"Je n'ai pas de compte": name and mobile of the school files, the SMS code from
    the outbox, the three children confirmed by birth date, a password; the service
    receives the children."""
    main = stack.clients["main"]
    identifier = journeys.parent_activation(page, stack, main, THOMAS, checks)
    assert re.fullmatch(r"t\.legrand\d+", identifier), identifier
    info = userinfo(page)
    assert info["preferred_username"] == identifier
    assert (info["affiliation"], info["degree"]) == ("responsable", ["1d", "2d"])
    assert "Thomas LEGRAND" in page.locator(".sc-userbar").inner_text()
    checks("sample-services-parent-activated")
    check_children_and_services(page, checks, THOMAS.children,
                                "sample-services-parent-activated")
    checks.assert_fit()


# -- FranceConnect ------------------------------------------------------------------------


def test_franceconnect_first_login_then_logout_through_franceconnect(page, stack, checks):
    """The simulator's login, then the identification (mobile, SMS code, children);
    the logout from the service goes through FranceConnect's session/end and back; a
    later FranceConnect login goes straight to the service."""
    main = stack.clients["main"]
    journeys.franceconnect_login(page, stack, main, JEAN_PIERRE, checks)
    assert "fc" in id_token_claims(page)["amr"]
    info = userinfo(page)
    assert info["affiliation"] == "responsable"
    # The account is named after the school files (one of them writes "Jean Pierre").
    assert (info["family_name"], info["given_name"].replace("-", " ")) == \
        ("MOREAU", "Jean Pierre")
    assert [c["given_name"] for c in info["children"]] == ["Chloé", "Tom"]
    checks("sample-services-franceconnect")
    check_children_and_services(page, checks, JEAN_PIERRE.children,
                                "sample-services-franceconnect")

    visited = []
    page.on("request", lambda request: visited.append(request.url)
            if request.is_navigation_request() else None)
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(main.base_url + "/")
    assert any(url.startswith(stack.fc_issuer + "/session/end?") for url in visited), visited
    assert any(url.startswith(stack.issuer + "/federation/franceconnect/deconnexion?")
               for url in visited), visited
    assert f"Vous êtes déconnecté de {main.name} et d'EduConnect." in \
        page.locator(".sc-notice").inner_text()
    checks("sample-logged-out")

    # FranceConnect's session is over too (its form again), the link stays.
    visited.clear()
    journeys.franceconnect_login(page, stack, main, JEAN_PIERRE, checks, first=False)
    assert not [u for u in visited if "/federation/franceconnect/identification" in u]
    assert [c["given_name"] for c in userinfo(page)["children"]] == ["Chloé", "Tom"]
    checks.assert_fit()


# -- recovery -----------------------------------------------------------------------------


def test_parent_recovers_the_identifier_then_the_password(page, browser_context, stack,
                                                          checks):
    """A parent who activated the account forgets it all: the identifier comes by SMS,
    a code by SMS lets them choose a new password, which then logs them in."""
    main = stack.clients["main"]
    identifier = journeys.parent_activation(page, stack, main, NATHALIE,
                                            lambda *_, **__: None, wrong_code=False)
    browser_context.clear_cookies()

    assert journeys.lost_identifier(page, stack, main, NATHALIE, checks) == identifier
    journeys.forgotten_password(page, stack, NATHALIE, identifier, checks, OTHER_PASSWORD)
    # Back on the login page of the same authorization request: the old password is
    # refused, the new one leads to the service.
    journeys.log_in(page, identifier, NEW_PASSWORD)
    page.wait_for_selector("#error-summary")
    journeys.log_in(page, identifier, OTHER_PASSWORD)
    page.wait_for_url(main.base_url + "/services")
    assert userinfo(page)["preferred_username"] == identifier
    check_children_and_services(page, checks, NATHALIE.children, "sample-services-recovered")
    checks.assert_fit()


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
    # An alert named by its title (aria-labelledby counts on an element with a role).
    assert page.get_by_role("alert", name="Le formulaire contient des erreurs").count() == 1
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


def test_franceconnect_simulator_pages_have_no_horizontal_scroll_at_320px(browser_context,
                                                                         stack):
    """The simulator is not a hosted page (axe-core only reports on it), but developers
    try the FranceConnect journey on phones too: its login form and home page."""
    page = browser_context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    journeys.to_login(page, stack, stack.clients["main"])
    journeys.button(page, "S'identifier avec FranceConnect").click()
    page.wait_for_url(lambda url: url.startswith(stack.fc_issuer + "/interaction/"))
    page.wait_for_load_state("load")
    assert page.locator("#login").is_visible()
    widths = {"connexion": page.evaluate("document.documentElement.scrollWidth")}
    page.goto(stack.franceconnect.base_url + "/")
    widths["accueil"] = page.evaluate("document.documentElement.scrollWidth")
    assert all(width <= 320 for width in widths.values()), widths


def test_other_hosted_pages_pass_axe_and_fit_320px(page, axe, stack, checks):
    """The pages around the journeys: account and its forms, logout confirmation, logged out,
    help, legal notice, accessibility statement, the pupils' recovery pages, error
    pages."""
    main = stack.clients["main"]
    login_through(page, axe, stack, main, *PARENT)
    pages = [
        ("compte", "/compte", "Mon compte"),
        ("changer de mot de passe", "/compte/mot-de-passe", "Changer mon mot de passe"),
        ("changer d'adresse électronique", "/compte/courriel", "Mon adresse électronique"),
        ("changer de téléphone", "/compte/telephone", "Mon téléphone portable"),
        ("lier FranceConnect", "/federation/franceconnect/lier",
         "Lier mon identité FranceConnect"),
        # A logout request that does not prove its origin is confirmed by the person.
        ("confirmation de déconnexion", "/logout", "Voulez-vous vous déconnecter ?"),
        ("aide", "/aide", "Besoin d'aide ?"),
        ("mentions légales", "/mentions-legales", None),
        ("accessibilité", "/accessibilite", None),
        ("identifiant perdu, élève", "/recuperation/identifiant/eleve", "Identifiant perdu"),
        ("mot de passe oublié, élève", "/recuperation/mot-de-passe/eleve",
         "Mot de passe oublié"),
        ("erreur de demande", "/authorize?client_id=inconnu&redirect_uri=http://x/",
         "Demande de connexion invalide"),
        ("activation expirée", "/activation/parent/code?f=inconnu", "Session expirée"),
        ("page non trouvée", "/pas-de-page-ici", "Page non trouvée"),
        ("déconnecté", "/logout/done", "Vous êtes déconnecté"),
    ]
    for label, path, heading in pages:
        page.goto(stack.issuer + path)
        if heading:
            assert page.get_by_role("heading", level=1).inner_text() == heading, label
        checks(f"EduConnect: {label}")
    # An error page's title says so, and its button says where it really goes: an
    # expired activation starts again, it does not pretend to go back.
    page.goto(stack.issuer + "/activation/parent/code?f=inconnu")
    assert page.title() == "Erreur - Session expirée - EduConnect"
    assert page.get_by_role("link", name="Recommencer").get_attribute("href") == \
        "/activation/parent"
    assert page.get_by_role("link", name="Revenir à la page précédente").count() == 0
    checks.assert_fit()


def test_administration_console_pages(page, stack, checks):
    """An administrator of a school: password, TOTP code, the console, the school."""
    journeys.admin_console(page, stack, checks)
    assert "Collège des Oliviers" in page.get_by_role("heading", level=1).inner_text()
    checks.assert_fit()
