"""The login page served from its shell is exactly the page Jinja renders."""

import re

import pytest
from flask import flash
from flask import render_template
from flask import session

from idp.auth import views
from idp.auth.views import LOGIN_TEMPLATE
from idp.auth.views import LoginPageShells
from tests.conftest import csrf_from

FLOW = "Ab3_-x" * 5

VARIANTS = [
    {"flow_id": None, "identifier": "", "client_name": None},
    {"flow_id": FLOW, "identifier": "", "client_name": "Pronote"},
    {"flow_id": FLOW, "identifier": "c.durand", "client_name": None},
    {"flow_id": FLOW, "identifier": "<b>\"o'k\"</b> & co", "client_name": "<i>A & B</i>"},
]


def _context(**values):
    context = {"errors": {}, "franceconnect": False, **values}
    return context


@pytest.mark.parametrize("franceconnect", [False, True])
@pytest.mark.parametrize("values", VARIANTS)
def test_the_shell_gives_the_rendered_page(app, values, franceconnect):
    shells = LoginPageShells()
    context = _context(**values, franceconnect=franceconnect)
    with app.test_request_context(f"/login?flow={values['flow_id'] or ''}"):
        first = shells.render(context)  # rendered by Jinja, and the shell checked
        assert first == render_template(LOGIN_TEMPLATE, **context)
        assert shells.shells and None not in shells.shells.values()
        assert shells.render(context) == first
        # Another pending request and another service, on the same shell.
        other = dict(context)
        if values["flow_id"]:
            other["flow_id"] = "Zz9" * 10
        if values["identifier"]:
            other["identifier"] = values["identifier"] + "x"
        if values["client_name"]:
            other["client_name"] = "ENT <Atrium>"
        assert shells.render(other) == render_template(LOGIN_TEMPLATE, **other)


def test_values_that_look_like_markers_are_not_filled_in(app):
    shells = LoginPageShells()
    with app.test_request_context("/login"):
        context = _context(flow_id=FLOW, identifier="c.durand", client_name="Pronote")
        shells.render(context)
        tricky = _context(flow_id=FLOW, identifier=f"{shells.marker}csrf",
                          client_name=f"{shells.marker}flow")
        page = shells.render(tricky)
        assert page == render_template(LOGIN_TEMPLATE, **tricky)
        assert f'value="{shells.marker}csrf"' in page


def test_each_browser_gets_its_own_csrf_token(app, client):
    other = app.test_client()
    first, second = client.get("/login"), other.get("/login")
    assert csrf_from(first.text) != csrf_from(second.text)
    with client.session_transaction() as saved:
        assert csrf_from(first.text) == saved["csrf"]
    with other.session_transaction() as saved:
        assert csrf_from(second.text) == saved["csrf"]
    assert first.text.replace(csrf_from(first.text), "") == second.text.replace(
        csrf_from(second.text), "")


@pytest.mark.parametrize("case", ["errors", "flash", "session", "sso", "flow", "reload"])
def test_other_pages_are_left_to_jinja(app, case):
    shells = LoginPageShells()
    context = _context(flow_id=FLOW, identifier="", client_name=None)
    with app.test_request_context("/login"):
        shells.render(context)
    headers = {}
    if case == "sso":
        headers["Cookie"] = f"{app.config['SESSION_COOKIE_NAME_SSO']}=secret"
    with app.test_request_context("/login", headers=headers):
        if case == "errors":
            context["errors"] = {"password": "Identifiant ou mot de passe incorrect."}
        elif case == "flash":
            flash("Vous êtes déconnecté.", "success")
        elif case == "session":
            session["admin_pending"] = "x"
        elif case == "flow":
            context["flow_id"] = "<script>"
        elif case == "reload":
            app.jinja_env.auto_reload = True
        try:
            assert shells.render(context) is None
        finally:
            app.jinja_env.auto_reload = False


def test_a_shell_that_differs_from_a_rendering_is_not_used(app, monkeypatch):
    shells = LoginPageShells()
    renders = []

    def varying(template, **context):
        renders.append(template)
        return render_template(template, **context) + f"<!-- {len(renders)} -->"

    monkeypatch.setattr(views, "render_template", varying)
    context = _context(flow_id=None, identifier="", client_name=None)
    with app.test_request_context("/login"):
        assert shells.render(context).endswith("<!-- 1 -->")
        assert list(shells.shells.values()) == [None]
        assert shells.render(context) is None


def test_the_login_page_served_twice_is_the_same_page(app, rp):
    first = rp.browser.get(rp.authorize(login_hint="c.durand").headers["Location"])
    second = rp.browser.get(rp.authorize(login_hint="c.durand").headers["Location"])
    flows = [re.search(r'name="flow" value="([^"]+)"', p.text).group(1)
             for p in (first, second)]
    assert flows[0] != flows[1]
    assert first.text.replace(flows[0], "") == second.text.replace(flows[1], "")
    assert first.text.count(flows[0]) == 4  # the form and three links
    assert "pour continuer vers <strong>Service test</strong>" in first.text


def test_a_page_from_its_shell_has_the_headers_of_a_rendered_one(app):
    app.extensions.pop("idp.login_shells", None)
    rendered = app.test_client().get("/login")  # builds the shell
    shelled = app.test_client().get("/login")
    assert app.extensions["idp.login_shells"].shells
    ignored = {"Set-Cookie", "X-Request-ID", "Content-Length"}

    def names(response):
        return sorted((k, v) for k, v in response.headers.items() if k not in ignored)

    assert names(rendered) == names(shelled)
    assert [c.split("=")[0] for c in rendered.headers.getlist("Set-Cookie")] == [
        c.split("=")[0] for c in shelled.headers.getlist("Set-Cookie")]
