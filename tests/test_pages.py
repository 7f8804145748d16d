"""Information pages, shared layout, form macros and vendored DSFR assets."""

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import flash
from flask import render_template

PAGES = ["/aide", "/mentions-legales", "/accessibilite"]
ASSISTANCE = (
    "0 809 54 06 06 (prix d'un appel local), du lundi au vendredi de 8h à 20h "
    "et le samedi de 8h à 12h (horaires de métropole)"
)


class PageParser(HTMLParser):
    """Collect what the accessibility and CSP checks need from one page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.title = None
        self.inline_scripts = 0
        self.style_elements = 0
        self.style_attrs = []
        self.handlers = []
        self.inputs = []
        self.label_for = set()
        self.ids = []
        self.links = []
        self.assets = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "title":
            self._in_title = True
            self.title = ""
        elif tag == "script" and not attrs.get("src"):
            self.inline_scripts += 1
        elif tag == "style":
            self.style_elements += 1
        elif tag == "input":
            self.inputs.append(attrs)
        elif tag == "label" and attrs.get("for"):
            self.label_for.add(attrs["for"])
        elif tag == "a":
            self.links.append(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if "style" in attrs:
            self.style_attrs.append(tag)
        self.handlers += [f"{tag}[{name}]" for name in attrs if name.startswith("on")]
        for name in ("href", "src"):
            value = attrs.get(name) or ""
            if value.startswith("/static/"):
                self.assets.append(value)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def parse(markup):
    """Parse an HTML string with PageParser."""
    parser = PageParser()
    parser.feed(markup)
    parser.close()
    return parser


def text_of(response):
    """Return a response body with character references decoded."""
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("path", PAGES)
def test_page_is_served_in_french_with_a_title(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = parse(response.get_data(as_text=True))
    assert page.lang == "fr"
    assert page.title and page.title.strip().endswith("- EduConnect")
    assert page.title.strip() != "- EduConnect"


@pytest.mark.parametrize("path", PAGES)
def test_page_complies_with_strict_csp(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    assert page.inline_scripts == 0
    assert page.style_elements == 0
    assert page.style_attrs == []
    assert page.handlers == []


@pytest.mark.parametrize("path", PAGES)
def test_every_visible_input_has_a_label(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    for field in page.inputs:
        if field.get("type") == "hidden":
            continue
        assert field.get("id") in page.label_for, field


@pytest.mark.parametrize("path", PAGES)
def test_ids_are_unique(client, path):
    page = parse(client.get(path).get_data(as_text=True))
    assert len(page.ids) == len(set(page.ids))


def test_layout_has_skip_links_main_and_footer(client):
    body = client.get("/aide").get_data(as_text=True)
    assert 'href="#contenu"' in body
    assert 'href="#footer"' in body
    assert re.search(r'<main id="contenu" role="main" tabindex="-1">', body)
    assert 'id="footer"' in body
    text = text_of(client.get("/aide"))
    assert "Ministère de l'Éducation nationale" in re.sub(r"<br>", " ", text)
    assert "Accessibilité : non conforme" in text


def test_footer_links_to_the_information_pages(client):
    page = parse(client.get("/mentions-legales").get_data(as_text=True))
    hrefs = {link.get("href") for link in page.links}
    assert set(PAGES) <= hrefs
    current = [link for link in page.links if link.get("aria-current") == "page"]
    assert [link["href"] for link in current] == ["/mentions-legales"]


def test_links_opening_a_new_window_say_so(client):
    for path in PAGES:
        for link in parse(client.get(path).get_data(as_text=True)).links:
            if link.get("target") == "_blank":
                assert "noopener" in link.get("rel", "")
                assert link.get("title", "").endswith(" - nouvelle fenêtre"), link


def test_help_gives_the_national_assistance_line(client):
    text = text_of(client.get("/aide"))
    assert ASSISTANCE in text
    assert "Je n'ai pas de compte" in text
    assert "un compte unique tout au long de la scolarité" in text
    assert "S'identifier avec FranceConnect" in text


def test_legal_notice_works_without_configuration(client):
    text = text_of(client.get("/mentions-legales"))
    assert "Éditeur : l'opérateur de ce service" in text
    assert "SIECLE" in text and "ONDE" in text


def test_legal_notice_uses_the_operator_configuration(client, monkeypatch):
    config = client.application.config
    monkeypatch.setitem(config, "LEGAL_OPERATOR_NAME", "Académie <de> Test")
    monkeypatch.setitem(config, "LEGAL_DPO_CONTACT", "dpo@example.org")
    body = client.get("/mentions-legales").get_data(as_text=True)
    assert "Éditeur : Académie &lt;de&gt; Test" in body
    assert "dpo@example.org" in body


def test_accessibility_statement_states_non_compliance(client):
    text = text_of(client.get("/accessibilite"))
    assert "non conforme" in text
    assert "Défenseur des droits" in text
    assert "Voies de recours" in text


def test_layout_assets_are_served(client):
    page = parse(client.get("/aide").get_data(as_text=True))
    assert any(asset.endswith("dsfr.min.css") for asset in page.assets)
    assert any(asset.endswith("dsfr.module.min.js") for asset in page.assets)
    assert any(asset.endswith("dsfr.nomodule.min.js") for asset in page.assets)
    for asset in sorted(set(page.assets)):
        response = client.get(asset)
        assert response.status_code == 200, asset
        response.close()


@pytest.mark.parametrize(
    "stylesheet",
    ["dsfr/dsfr.min.css", "dsfr/utility/icons/icons.min.css", "css/idp.css"],
)
def test_stylesheet_references_exist_and_need_no_data_uri(client, stylesheet):
    path = Path(client.application.static_folder) / stylesheet
    css = path.read_text(encoding="utf-8")
    refs = re.findall(r"""url\(\s*["']?([^)"']+)["']?\s*\)""", css)
    # A data: URI would be blocked by the policy default-src 'self'.
    assert not [ref for ref in refs if ref.startswith("data:")]
    missing = [ref for ref in set(refs) if not (path.parent / ref).resolve().is_file()]
    assert missing == []


def test_vendored_dsfr_is_a_1x_release_with_its_licence(client):
    dsfr = Path(client.application.static_folder) / "dsfr"
    version = (dsfr / "VERSION").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"1\.\d+\.\d+", version)
    assert (dsfr / "LICENSE.md").is_file()
    assert not list(dsfr.rglob("*.map"))


def test_flashed_messages_render_as_dsfr_alerts(client):
    app = client.application
    with app.test_request_context("/aide"):
        flash("Votre mot de passe a été modifié.", "success")
        flash("Code incorrect.", "error")
        flash("Sans catégorie.")
        body = render_template("pages/help.html")
    assert "fr-alert fr-alert--success fr-alert--sm" in body
    assert "fr-alert fr-alert--error fr-alert--sm" in body
    assert "fr-alert fr-alert--info fr-alert--sm" in body
    assert "Code incorrect." in body
    # Every message is announced (RGAA 7.5): errors at once, the others politely.
    assert '<div class="fr-alert fr-alert--success fr-alert--sm" role="status">' in body
    assert '<div class="fr-alert fr-alert--info fr-alert--sm" role="status">' in body
    assert '<div class="fr-alert fr-alert--error fr-alert--sm" role="alert">' in body


def test_error_page(client):
    with client.application.test_request_context("/"):
        body = render_template(
            "errors/error.html",
            status=404,
            title="Page non trouvée",
            message="La page que vous cherchez est introuvable.",
            back_url="/aide",
        )
    page = parse(body)
    assert page.title.strip() == "Erreur - Page non trouvée - EduConnect"
    assert "Erreur 404" in body
    assert "La page que vous cherchez est introuvable." in body
    assert {"href": "/aide", "class": "fr-btn"} in page.links


def test_error_page_button_says_where_it_goes(client):
    with client.application.test_request_context("/"):
        body = render_template("errors/error.html", status=400, title="Session expirée",
                               message="…", back_url="/login?flow=abc",
                               back_label="Retour à la connexion")
        bare = render_template("errors/error.html", status=500, title="Erreur technique",
                               message="…")
    assert '<a class="fr-btn" href="/login?flow=abc">Retour à la connexion</a>' in body
    assert "Revenir à la page précédente" not in body
    # Without a place to go back to, the page still offers more than the help.
    assert '<a class="fr-btn" href="/">Retour à l\'accueil</a>' in bare
    assert '<a class="fr-btn fr-btn--secondary" href="/aide">Besoin d\'aide ?</a>' in bare


def test_error_pages_of_the_app_start_their_title_with_erreur(client):
    missing = client.get("/pas-de-page-ici")
    assert missing.status_code == 404
    assert parse(missing.get_data(as_text=True)).title.strip() == \
        "Erreur - Page non trouvée - EduConnect"
    # A form sent without its token (an old tab, a double submission).
    expired = client.post("/login", data={"identifier": "x", "password": "y"})
    assert expired.status_code == 400
    text = text_of(expired)
    assert parse(expired.get_data(as_text=True)).title.strip() == \
        "Erreur - Formulaire expiré - EduConnect"
    assert "Besoin d'aide ?" in text
    # Its button shows the same form again, for the same pending request.
    assert '<a class="fr-btn" href="/login">Recharger le formulaire</a>' in \
        expired.get_data(as_text=True)
    again = client.post("/login?flow=abc-123", data={"identifier": "x"})
    assert '<a class="fr-btn" href="/login?flow=abc-123">Recharger le formulaire</a>' in \
        again.get_data(as_text=True)
    odd = client.post("/login?flow=%3Cscript%3E", data={"identifier": "x"})
    assert 'href="/login">Recharger le formulaire' in odd.get_data(as_text=True)


def test_a_wrong_method_names_the_allowed_ones_for_clients_and_people(client):
    # RFC 9110 15.5.6: a 405 carries Allow, on the JSON endpoints and on the pages.
    token = client.get("/token")
    assert token.status_code == 405
    assert token.json["error"] == "invalid_request"
    assert "POST" in token.headers["Allow"]
    page = client.put("/aide")
    assert page.status_code == 405
    assert "Méthode non autorisée" in page.get_data(as_text=True)
    assert set(page.headers["Allow"].split(", ")) >= {"GET", "HEAD"}


def render_macro(client, source, **context):
    """Render a template snippet in a request context of the app."""
    with client.application.test_request_context("/"):
        return client.application.jinja_env.from_string(source).render(**context)


def test_input_macro_links_its_label_hint_and_error(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}'
        "{{ forms.input('identifiant', 'Identifiant', hint='Saisissez un identifiant',"
        " error='Saisissez votre identifiant.', autocomplete='username',"
        " attrs={'autocapitalize': 'off', 'id': 'ignored'}) }}",
    )
    assert "fr-input-group fr-input-group--error" in body
    assert '<label class="fr-label" for="identifiant">' in body
    assert '<span class="fr-hint-text">Saisissez un identifiant</span>' in body
    assert 'id="identifiant"' in body and 'id="ignored"' not in body
    assert 'aria-describedby="identifiant-desc-error"' in body
    assert '<p id="identifiant-desc-error" class="fr-error-text">' in body
    assert 'autocomplete="username"' in body
    assert 'autocapitalize="off"' in body
    assert 'aria-required="true"' in body


def test_input_macro_escapes_the_value(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}'
        "{{ forms.input('nom', 'Nom', value=value, required=False) }}",
        value='"><script>',
    )
    assert "<script>" not in body
    assert "aria-required" not in body


def test_password_macro_uses_the_dsfr_component(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}'
        "{{ forms.password('password', 'Mot de passe', error='Trop court.',"
        " autocomplete='new-password', rules=['8 caractères minimum']) }}",
    )
    page = parse(body)
    assert 'class="fr-password"' in body
    assert 'type="password"' in body
    assert 'autocomplete="new-password"' in body
    assert 'aria-describedby="password-desc-error password-messages"' in body
    assert "8 caractères minimum" in body
    visible = [field for field in page.inputs if field.get("type") != "hidden"]
    assert {field["id"] for field in visible} == {"password", "password-show"}
    assert {"password", "password-show"} <= page.label_for
    show = next(field for field in visible if field["id"] == "password-show")
    assert show["aria-label"] == "Afficher le mot de passe"


def test_password_macro_names_its_checkbox_after_the_field(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}'
        "{{ forms.password('confirmation', 'Confirmation du mot de passe',"
        " error='Les deux mots de passe saisis ne sont pas identiques.',"
        " show_label='Afficher la confirmation du mot de passe') }}",
    )
    show = next(field for field in parse(body).inputs if field["id"] == "confirmation-show")
    assert show["aria-label"] == "Afficher la confirmation du mot de passe"
    assert 'aria-invalid="true"' in body
    assert 'aria-describedby="confirmation-desc-error"' in body


def test_error_summary_links_each_error_to_its_field(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}{{ forms.error_summary(errors) }}',
        errors={"identifiant": "Saisissez votre identifiant.", "password": "Mot de passe ?"},
    )
    assert 'id="error-summary"' in body and 'tabindex="-1"' in body
    # A role, so that aria-labelledby counts; autofocus, so that it is read first.
    summary = re.search(r'<div [^>]*id="error-summary"[^>]*>', body).group(0)
    assert 'role="alert"' in summary and "autofocus" in summary
    assert 'aria-labelledby="error-summary-title"' in summary
    assert 'id="error-summary-title"' in body
    assert "Le formulaire contient des erreurs" in body
    hrefs = [link["href"] for link in parse(body).links]
    assert hrefs == ["#identifiant", "#password"]
    empty = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}{{ forms.error_summary(errors) }}',
        errors={},
    )
    assert empty.strip() == ""


@pytest.mark.parametrize(("level", "role", "prefix"), [
    ("info", "status", "Information"), ("success", "status", "Succès"),
    ("warning", "status", "Attention"), ("error", "alert", "Erreur"),
])
def test_notice_macro_announces_by_level(client, level, role, prefix):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}{{ forms.notice(notice) }}',
        notice={"level": level, "text": "Un nouveau code <vous> a été envoyé."},
    )
    assert f'<div class="fr-alert fr-alert--{level} fr-alert--sm fr-mb-3w" role="{role}">' \
        in body
    assert f'<span class="fr-sr-only">{prefix} : </span>' in body
    assert "&lt;vous&gt;" in body
    empty = render_macro(client, '{% import "macros/forms.html" as forms %}'
                                 "{{ forms.notice(None) }}")
    assert empty.strip() == ""


def test_masked_phone_macro_hides_the_bullets_from_screen_readers(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}{{ forms.masked_phone(phone) }}',
        phone={"shown": "06 •• •• 44 55", "end": "44 55"},
    )
    assert body == ('<span aria-hidden="true">06 •• •• 44 55</span>'
                    '<span class="fr-sr-only">numéro se terminant par 44 55</span>')


def test_csrf_macro_renders_a_hidden_token(client):
    body = render_macro(client, '{% import "macros/forms.html" as forms %}{{ forms.csrf() }}')
    (field,) = parse(body).inputs
    assert field["type"] == "hidden"
    assert field["name"] == "csrf_token"
    assert field["value"]


def test_stepper_macro(client):
    body = render_macro(
        client,
        '{% import "macros/forms.html" as forms %}'
        "{{ forms.stepper(2, 5, 'Code de vérification', 'Rattachement des enfants') }}",
    )
    assert "Étape 2 sur 5" in body
    assert 'data-fr-current-step="2" data-fr-steps="5"' in body
    assert "Rattachement des enfants" in body


def test_franceconnect_button_posts_with_the_official_markup(client):
    body = render_macro(
        client,
        '{% from "macros/franceconnect.html" import franceconnect_button %}'
        "{{ franceconnect_button('/franceconnect/login') }}",
    )
    assert '<form method="post" action="/franceconnect/login"' in body
    assert '<button type="submit" class="fr-connect">' in body
    assert '<span class="fr-connect__login">S\'identifier avec</span>' in body
    assert '<span class="fr-connect__brand">FranceConnect</span>' in body
    page = parse(body)
    assert [field["name"] for field in page.inputs] == ["csrf_token"]
    (link,) = page.links
    assert link["href"] == "https://franceconnect.gouv.fr/"
    assert link["target"] == "_blank" and link["rel"] == "noopener"
    assert link["title"] == "Qu'est-ce que FranceConnect ? - nouvelle fenêtre"
