"""The journeys of parents and pupils through the hosted pages, from the demo client
and back, shared by the browser tests (which check each page) and
`scripts/screenshots.py` (which photographs it).

Each journey takes a Playwright page, the running stack (stack.py) and a `visit`
callback called on every page it shows, with a short name ("activation-parent-code")
and whether the page is one of the provider's hosted pages (the FranceConnect
simulator's page is not). The people are those of the fictitious school directory of
examples/data that `idp demo load` imports but does not activate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: visit(name, hosted): called once a page of a journey is displayed.
Visit = Callable[..., None]

#: Passwords people choose in the journeys (the policy wants long and uncommon ones).
NEW_PASSWORD = "Cerf-volant bleu sur la dune 2026"
OTHER_PASSWORD = "Marmotte endormie au soleil 2026"


@dataclass(frozen=True)
class Child:
    """A child to confirm, and what the demo client offers for them."""

    given_name: str
    family_name: str
    birthdate: str  # as typed: JJ/MM/AAAA
    level: str  # as the demo client shows it
    bourse: str | None  # "Bourse de collège", "Bourse de lycée" or None (école)

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Parent:
    """A legal representative of the school files, not activated by the demo."""

    family_name: str  # as typed
    given_name: str
    mobile: str  # as typed
    e164: str  # as the outbox writes it
    children: tuple[Child, ...]
    franceconnect_login: str | None = None  # the simulator's test person


@dataclass(frozen=True)
class Pupil:
    """A pupil of the school files with a provisional account."""

    identifier: str
    birthdate: str
    name: str
    school: str
    level: str


NOAH = Child("Noah", "LEGRAND", "18/04/2009", "Seconde générale et technologique",
             "Bourse de lycée")
JADE = Child("Jade", "LEGRAND", "12/03/2012", "4e", "Bourse de collège")
LINA = Child("Lina", "LEGRAND", "14/02/2016", "CE2", None)
#: Sophie LEGRAND's husband: the same three children, in two académies.
THOMAS = Parent("Legrand", "Thomas", "06 22 33 44 55", "+33622334455", (NOAH, JADE, LINA))
#: Logs in with FranceConnect (the simulator's `jean-pierre`, identities.py).
JEAN_PIERRE = Parent(
    "MOREAU", "Jean-Pierre", "07 45 67 89 01", "+33745678901",
    (Child("Chloé", "MOREAU", "21/05/2014", "6e", "Bourse de collège"),
     Child("Tom", "MOREAU", "03/03/2015", "CM2", None)),
    franceconnect_login="jean-pierre",
)
#: Activates her account, then forgets her identifier and her password.
NATHALIE = Parent("Petit", "Nathalie", "06 77 88 99 00", "+33677889900",
                  (Child("Manon", "PETIT", "15/01/2011", "4e", "Bourse de collège"),))
#: Has a provisional password from her school (`idp accounts reset`).
CHLOE = Pupil("c.moreau1", "21/05/2014", "Chloé MOREAU", "Collège des Oliviers", "6e")
#: An administrator of the collège des Oliviers (`idp admins create`).
ADMIN = ("admin.oliviers", "0830901D", "Console-des-Oliviers-2026")


def path_of(url: str) -> str:
    return urlsplit(url).path


def on(page, base: str, path: str) -> None:
    """Wait until the page is at base + path (any query string)."""
    page.wait_for_url(lambda url: url.startswith(base) and path_of(url) == path)
    page.wait_for_load_state("load")


def textbox(page, label: str):
    """A text field by the start of its accessible name (label, then hint)."""
    # Not \b: Playwright runs the pattern as a JavaScript regex, where "é" is no
    # word character.
    return page.get_by_role("textbox", name=re.compile("^" + re.escape(label) + r"(\s|$)"))


def button(page, name: str):
    return page.get_by_role("button", name=name, exact=True)


def fill_password(page, password: str, new_label: str = "Nouveau mot de passe",
                  confirmation: str | None = None) -> None:
    page.get_by_label(new_label, exact=True).fill(password)
    page.get_by_label("Confirmation du mot de passe", exact=True).fill(
        password if confirmation is None else confirmation)


def summary_links(page) -> list[str]:
    """The texts of the error summary's links, found as a screen reader finds it: the
    alert named by its title."""
    summary = page.get_by_role("alert", name="Le formulaire contient des erreurs")
    return summary.get_by_role("link").all_inner_texts()


def title_step(page) -> str:
    """The "Étape N sur M" of the page title, or ""."""
    found = re.search(r"Étape \d+ sur \d+", page.title())
    return found.group(0) if found else ""


def to_login(page, stack, client) -> None:
    """From the demo client's home page to the provider's login page."""
    page.goto(client.base_url + "/")
    page.get_by_role("link", name="Se connecter avec EduConnect").click()
    on(page, stack.issuer, "/login")


def log_in(page, identifier: str, password: str) -> None:
    textbox(page, "Identifiant").fill(identifier)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    button(page, "Se connecter").click()


def confirm_children(page, children) -> None:
    """Type each child's birth date on the children step, then confirm."""
    for child in children:
        textbox(page, f"Date de naissance de {child.given_name}").fill(child.birthdate)
    button(page, "Confirmer").click()


# -- pupil: first login with a provisional password -----------------------------------------


def pupil_activation(page, stack, client, pupil: Pupil, provisional: str, visit: Visit,
                     password: str = NEW_PASSWORD) -> None:
    """Log in with the school's provisional password, choose a password, confirm the
    birth date (a wrong one first), skip the e-mail; back on the client."""
    to_login(page, stack, client)
    log_in(page, pupil.identifier, provisional)
    on(page, stack.issuer, "/activation/compte/mot-de-passe")
    assert title_step(page) == "Étape 1 sur 4", page.title()
    assert pupil.identifier in page.locator(".idp-identifier").inner_text()
    visit("activation-pupil-password")
    fill_password(page, password)
    button(page, "Valider mon mot de passe").click()

    on(page, stack.issuer, "/activation/compte/identite")
    assert title_step(page) == "Étape 2 sur 4", page.title()
    visit("activation-pupil-birthdate")
    textbox(page, "Ma date de naissance").fill("01/01/2014")
    button(page, "Confirmer").click()
    page.wait_for_selector("#error-summary")
    assert page.title().startswith("Erreur - Étape 2 sur 4")
    assert page.locator("#birthdate").get_attribute("aria-invalid") == "true"
    visit("activation-pupil-birthdate-error")
    textbox(page, "Ma date de naissance").fill(pupil.birthdate)
    button(page, "Confirmer").click()

    on(page, stack.issuer, "/activation/compte/courriel")
    assert title_step(page) == "Étape 3 sur 4", page.title()
    visit("activation-pupil-email")
    button(page, "Passer cette étape").click()
    on(page, client.base_url, "/services")


# -- parent: self-activation by SMS ---------------------------------------------------------


def parent_activation(page, stack, client, parent: Parent, visit: Visit,
                      password: str = NEW_PASSWORD, wrong_code: bool = True) -> str:
    """"Je n'ai pas de compte" from the client's login, name and mobile, the SMS code
    from the outbox, the children's birth dates, a password; back on the client. With
    wrong_code, the parent makes the usual mistakes first: a new code asked for too
    early, a wrong code, wrong birth dates, a confirmation that differs. Return the
    identifier the provider gave."""
    to_login(page, stack, client)
    page.get_by_role("link", name="Je n'ai pas de compte").click()
    on(page, stack.issuer, "/activation/")
    visit("activation-start")
    page.get_by_role("link", name="Activer mon compte").click()

    on(page, stack.issuer, "/activation/parent")
    assert title_step(page) == "Étape 1 sur 5", page.title()
    # The time limit is said before it starts (RGAA 13.1).
    assert "30 minutes pour terminer l'activation" in page.locator("main").inner_text()
    visit("activation-parent-identify")
    textbox(page, "Nom").fill(parent.family_name)
    textbox(page, "Prénom").fill(parent.given_name)
    textbox(page, "Numéro de téléphone portable").fill(parent.mobile)
    since = time.time() - 0.5
    button(page, "Recevoir un code par SMS").click()

    on(page, stack.issuer, "/activation/parent/code")
    assert title_step(page) == "Étape 2 sur 5", page.title()
    assert parent.e164[-2:] in page.locator("main").inner_text()  # the masked number
    end = f"{parent.e164[-4:-2]} {parent.e164[-2:]}"
    # Written as typed, the bullets hidden from screen readers, which read the end.
    assert page.get_by_text(f"{parent.mobile[:2]} •• •• {end}").get_attribute(
        "aria-hidden") == "true"
    assert page.get_by_text(f"numéro se terminant par {end}").count() == 1
    code = stack.sms_code(since, parent.e164)
    visit("activation-parent-code")
    if wrong_code:
        # Asked for too early, a new code is a polite status, not the field's error.
        button(page, "Recevoir un nouveau code").click()
        page.wait_for_load_state("load")
        status = page.get_by_role("status")
        assert "Vous pourrez en demander un nouveau dans" in status.inner_text()
        assert not page.title().startswith("Erreur")
        assert page.locator("#code").get_attribute("aria-invalid") is None
        assert page.locator("#error-summary").count() == 0
        visit("activation-parent-code-resend")
        textbox(page, "Code reçu par SMS").fill("000000" if code != "000000" else "111111")
        button(page, "Valider le code").click()
        page.wait_for_selector("#error-summary")
        assert "Il vous reste 2 essai(s)" in page.locator("#error-summary").inner_text()
        visit("activation-parent-code-error")
    textbox(page, "Code reçu par SMS").fill(code)
    button(page, "Valider le code").click()

    on(page, stack.issuer, "/activation/parent/enfants")
    assert title_step(page) == "Étape 3 sur 5", page.title()
    legends = page.locator("legend").all_inner_texts()
    for child in parent.children:
        assert any(child.name in legend for legend in legends), (child.name, legends)
    announced = page.locator(".fr-stepper__details").inner_text()
    visit("activation-parent-children")
    if wrong_code:
        # No date at all: one line per child in the summary, each naming the child.
        button(page, "Confirmer").click()
        page.wait_for_selector("#error-summary")
        links = summary_links(page)
        assert links == [f"{child.name} : saisissez la date de naissance au format "
                         "JJ/MM/AAAA." for child in parent.children], links
        visit("activation-parent-children-error")
    confirm_children(page, parent.children)

    on(page, stack.issuer, "/activation/parent/mot-de-passe")
    assert title_step(page) == "Étape 4 sur 5", page.title()
    # The step announced on the children page is this one.
    step_title = page.locator(".fr-stepper__title").inner_text().split("\n")[0].strip()
    assert announced == f"Étape suivante : {step_title}", (announced, step_title)
    identifier = page.locator(".idp-identifier").inner_text().strip()
    # Each "Afficher" checkbox says which password it shows (RGAA 11.2).
    for name in ("Afficher le nouveau mot de passe",
                 "Afficher la confirmation du mot de passe"):
        assert page.get_by_role("checkbox", name=name, exact=True).count() == 1, name
    visit("activation-parent-password")
    if wrong_code:
        fill_password(page, password, confirmation=password + " !")
        button(page, "Valider mon mot de passe").click()
        page.wait_for_selector("#error-summary")
        assert summary_links(page) == ["Les deux mots de passe saisis ne sont pas "
                                       "identiques."]
        assert page.locator("#confirmation").get_attribute("aria-invalid") == "true"
        assert page.locator("#password").get_attribute("aria-invalid") is None
        visit("activation-parent-password-error")
    fill_password(page, password)
    button(page, "Valider mon mot de passe").click()
    on(page, client.base_url, "/services")
    return identifier


# -- parent: FranceConnect -----------------------------------------------------------------


def franceconnect_login(page, stack, client, parent: Parent, visit: Visit,
                        first: bool = True) -> None:
    """"S'identifier avec FranceConnect" on the client's login page, the simulator's
    form; on a first login, the identification (mobile, SMS code, children)."""
    to_login(page, stack, client)
    if first:
        visit("login")
    button(page, "S'identifier avec FranceConnect").click()
    page.wait_for_url(lambda url: url.startswith(stack.fc_issuer + "/interaction/"))
    page.wait_for_load_state("load")
    if first:
        visit("franceconnect-simulator", hosted=False)
    page.locator("#login").fill(parent.franceconnect_login)
    page.locator("#password").fill("123")
    button(page, "Se connecter").click()
    if not first:
        on(page, client.base_url, "/services")
        return

    on(page, stack.issuer, "/federation/franceconnect/identification")
    assert title_step(page) == "Étape 1 sur 4", page.title()
    assert f"Bonjour {parent.given_name}" in page.locator("main").inner_text()
    visit("franceconnect-identify")
    textbox(page, "Numéro de téléphone portable").fill(parent.mobile)
    since = time.time() - 0.5
    button(page, "Recevoir un code par SMS").click()

    on(page, stack.issuer, "/federation/franceconnect/identification/code")
    assert title_step(page) == "Étape 2 sur 4", page.title()
    code = stack.sms_code(since, parent.e164)
    visit("franceconnect-code")
    textbox(page, "Code reçu par SMS").fill(code)
    button(page, "Valider le code").click()

    on(page, stack.issuer, "/federation/franceconnect/identification/enfants")
    assert title_step(page) == "Étape 3 sur 4", page.title()
    visit("franceconnect-children")
    confirm_children(page, parent.children)
    on(page, client.base_url, "/services")


# -- recovery ------------------------------------------------------------------------------


def lost_identifier(page, stack, client, parent: Parent, visit: Visit) -> str:
    """"Identifiant perdu" from the client's login page: name and mobile; return the
    identifier of the SMS. Ends on the login page of the same authorization request."""
    to_login(page, stack, client)
    page.get_by_role("link", name="Identifiant perdu").click()
    on(page, stack.issuer, "/recuperation/identifiant")
    visit("recovery-identifier-start")
    page.get_by_role("link", name="Recevoir mon identifiant par SMS").click()
    on(page, stack.issuer, "/recuperation/identifiant/parent")
    visit("recovery-identifier-parent")
    textbox(page, "Nom").fill(parent.family_name)
    textbox(page, "Prénom").fill(parent.given_name)
    textbox(page, "Numéro de téléphone portable").fill(parent.mobile)
    since = time.time() - 0.5
    button(page, "Recevoir mon identifiant par SMS").click()
    on(page, stack.issuer, "/recuperation/identifiant/envoye")
    visit("recovery-identifier-sent")
    body = stack.wait_for_message(since, parent.e164, "recovery_identifier")["body"]
    found = re.search(r"identifiant est ([a-z0-9.-]+)\.", body)
    assert found, body
    page.get_by_role("link", name="Retour à la page de connexion").click()
    on(page, stack.issuer, "/login")
    return found.group(1)


def forgotten_password(page, stack, parent: Parent, identifier: str, visit: Visit,
                       password: str) -> None:
    """"Mot de passe oublié" from the login page: identifier and mobile, the SMS code,
    a new password. Ends on the login page of the same authorization request."""
    page.get_by_role("link", name="Mot de passe oublié").click()
    on(page, stack.issuer, "/recuperation/mot-de-passe")
    visit("recovery-password-start")
    page.get_by_role("link", name="Recevoir un code par SMS").click()
    on(page, stack.issuer, "/recuperation/mot-de-passe/parent")
    assert title_step(page) == "Étape 1 sur 3", page.title()
    visit("recovery-password-parent")
    textbox(page, "Identifiant").fill(identifier)
    textbox(page, "Numéro de téléphone portable").fill(parent.mobile)
    since = time.time() - 0.5
    button(page, "Recevoir un code par SMS").click()
    on(page, stack.issuer, "/recuperation/mot-de-passe/parent/code")
    assert title_step(page) == "Étape 2 sur 3", page.title()
    code = stack.sms_code(since, parent.e164, "recovery_code")
    visit("recovery-password-code")
    textbox(page, "Code reçu par SMS").fill(code)
    button(page, "Valider le code").click()
    on(page, stack.issuer, "/recuperation/mot-de-passe/parent/nouveau")
    assert identifier in page.locator(".idp-identifier").inner_text()
    visit("recovery-password-new")
    since = time.time() - 0.5
    fill_password(page, password)
    button(page, "Enregistrer mon nouveau mot de passe").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", level=1).inner_text() == "Mot de passe modifié"
    visit("recovery-password-done")
    # The parent is told by SMS that the password changed.
    stack.wait_for_message(since, parent.e164, "account_password_changed")
    page.get_by_role("link", name="Se connecter").click()
    on(page, stack.issuer, "/login")


# -- the administration console ----------------------------------------------------------


def admin_console(page, stack, visit: Visit) -> None:
    """An administrator's login (password, then the TOTP code), the console's home
    and their school's page."""
    import pyotp  # the provider's own dependency

    identifier, uai, password = ADMIN
    page.goto(stack.issuer + "/admin/connexion")
    visit("admin-login")
    textbox(page, "Identifiant").fill(identifier)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    button(page, "Continuer").click()
    on(page, stack.issuer, "/admin/connexion/code")
    visit("admin-login-code")
    page.locator("#code").fill(pyotp.TOTP(stack.admins[identifier]).now())
    button(page, "Se connecter").click()
    on(page, stack.issuer, "/admin/")
    visit("admin-index")
    page.goto(f"{stack.issuer}/admin/etablissement/{uai}")
    visit("admin-school")
