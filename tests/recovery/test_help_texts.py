"""What the help and recovery pages tell people, checked against what the service does:
a parent resets only a primary-school child's password (« Mon compte »); collégiens and
lycéens use their confirmed address or get a new notice from their school; a parent's
activation needs each child's birth date (5 wrong tries end it); the forgotten-password
code goes to the mobile of the account, given with the identifier; pupils are told "tu".
"""

import html
import re
from pathlib import Path

import pytest
from flask import render_template

from idp.activation import service as activation

PUPIL_PAGES = ["/recuperation/mot-de-passe", "/recuperation/mot-de-passe/eleve",
               "/recuperation/mot-de-passe/eleve/envoye", "/aide"]


def text(response_or_html) -> str:
    """The visible text of a page, tags removed and white space collapsed."""
    body = response_or_html if isinstance(response_or_html, str) \
        else response_or_html.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.mark.parametrize("path", PUPIL_PAGES)
def test_only_primary_school_pupils_are_sent_to_a_parent(client, path):
    page = text(client.get(path))
    # Each mention of the parent's « Mon compte » is tied to primary school, in the same
    # sentence.
    sentences = [s for s in re.split(r"(?<=[.?!]) ", page) if "« Mon compte »" in s]
    assert sentences, page
    for sentence in sentences:
        assert "école primaire" in sentence, sentence
    # The old advice, which the parent's page refuses for collégiens and lycéens.
    assert "l'un de tes parents (depuis « Mon compte »)" not in page
    assert "Si tu n'as pas indiqué d'adresse, demande à l'un de tes parents ou à ton " \
           "établissement de réinitialiser" not in page
    assert re.search(r"au collège ou au lycée", page, re.I), page


@pytest.mark.parametrize("path", ["/recuperation/mot-de-passe/eleve",
                                  "/recuperation/mot-de-passe/eleve/envoye", "/aide"])
def test_collegiens_and_lyceens_without_an_address_get_a_notice_from_their_school(
        client, path):
    page = text(client.get(path))
    assert re.search(r"[Aa]u collège ou au lycée[ ,:]+adresse-toi à ton établissement[ ,:]+"
                     r"(qui te remettra|il te remettra) une nouvelle notification avec ton "
                     r"identifiant et un mot de passe provisoire", page), page


def test_the_choice_page_says_who_resets_a_pupils_password(client):
    page = text(client.get("/recuperation/mot-de-passe"))
    assert "à l'école primaire, l'un de mes parents réinitialise mon mot de passe depuis " \
           "son espace « Mon compte » ; au collège ou au lycée, mon établissement me remet " \
           "un nouveau mot de passe provisoire" in page


def test_the_mail_sent_page_keeps_its_opening_for_pupils_without_an_address(client):
    page = text(client.get("/recuperation/mot-de-passe/eleve/envoye"))
    assert "Si tu n'as pas confirmé d'adresse électronique, tu ne recevras rien : demande " \
           "à l'un de tes parents de réinitialiser ton mot de passe depuis son espace " \
           "« Mon compte » si tu es à l'école primaire" in page


def test_the_parents_account_page_agrees(app):
    # The help above relies on this rule of « Mon compte » (idp/recovery/service.py).
    home = Path(app.root_path, "templates", "account", "home.html").read_text(encoding="utf-8")
    assert "enfants scolarisés à l'école primaire. Les collégiens et lycéens le font " \
           "eux-mêmes" in home


def test_help_says_a_parent_needs_the_childrens_birth_dates(client):
    page = text(client.get("/aide"))
    assert "il vous suffit de confirmer" not in page
    assert "Munissez-vous de votre téléphone portable et de la date de naissance de " \
           "chacun de vos enfants" in page
    assert page.count("Confirmation du rattachement de vos enfants, en saisissant la date "
                      "de naissance de chacun d'eux") == 2  # on their own, FranceConnect
    tries = activation.MAX_BIRTHDATE_TRIES
    assert f"Après {tries} essais avec une date de naissance incorrecte, l'activation est " \
           "interrompue" in page


def test_help_sends_the_password_code_to_the_mobile_of_the_account(client):
    page = text(client.get("/aide"))
    assert "connu de l'école" not in page
    assert "saisissez votre identifiant et le numéro de téléphone portable enregistré dans " \
           "votre compte ; un code vous est envoyé par SMS à ce numéro" in page
    # The same words as the form itself.
    form = text(client.get("/recuperation/mot-de-passe/parent"))
    assert "votre identifiant et le numéro de téléphone portable enregistré dans votre " \
           "compte" in form


@pytest.mark.parametrize("required", [False, True], ids=["eleve", "parent"])
def test_the_email_step_speaks_to_pupils_with_tu_and_to_parents_with_vous(app, required):
    with app.test_request_context("/activation/compte/courriel"):
        page = text(render_template("activation/email.html", flow_id="f", errors={},
                                    email="", required=required, step=3, total=4))
    intro = page[page.index("Mon adresse électronique"):page.index("Adresse électronique Format")]
    if required:
        assert "vous sera envoyé" in intro
        assert not re.search(r"\b(tu|ton|te|ta|tes)\b", intro), intro
    else:
        assert "tu pourras retrouver ton identifiant" in intro
        assert "te sera envoyé" in intro
        assert not re.search(r"\b(vous|votre|vos)\b", intro), intro
