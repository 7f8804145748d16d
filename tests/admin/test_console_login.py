"""The console's login: the password alone never opens it, TOTP codes count once,
wrong codes lock, and only administrators enter."""

import pytest

from idp.extensions import db
from idp.models import Account
from idp.models import SsoSession
from tests.admin.conftest import COLLEGE
from tests.admin.conftest import code_for
from tests.admin.conftest import wrong_code


def test_the_password_alone_never_reaches_the_console(client, console, make_admin):
    admin = make_admin(COLLEGE)
    first = console.post_password(admin["identifier"], admin["password"])
    assert first.headers["Location"].endswith("/admin/connexion/code")
    assert client.get_cookie("idp_session") is None
    for path in ("/admin/", f"/admin/etablissement/{COLLEGE}"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/admin/connexion")


def test_the_right_code_opens_a_two_factor_session(app, client, console, make_admin):
    admin = make_admin(COLLEGE)
    response = console.login(admin)
    assert response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        sso = db.session.execute(db.select(SsoSession)).scalar_one()
        assert sso.amr == ["pwd", "otp"] and sso.account_id == admin["id"]


def test_a_session_without_the_second_factor_does_not_qualify(app, client, make_admin):
    admin = make_admin(COLLEGE)
    with app.app_context():
        account = db.session.get(Account, admin["id"])
        secret, _ = app.extensions["idp"].sessions.create(account, amr=["pwd"], acr="eidas1")
        db.session.commit()
    client.set_cookie("idp_session", secret)
    response = client.get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/connexion")


def test_a_wrong_code_is_refused_and_the_form_says_so(client, console, make_admin):
    admin = make_admin(COLLEGE)
    console.post_password(admin["identifier"], admin["password"])
    response = console.post_code(wrong_code(admin["seed"]))
    assert response.status_code == 401
    assert "Code incorrect ou déjà utilisé" in response.text
    assert 'href="#code"' in response.text  # the error summary links to the field
    assert client.get("/admin/").status_code == 302


def test_a_code_already_used_is_refused_in_another_browser(app, console, make_admin):
    admin = make_admin(COLLEGE)
    code = code_for(admin["seed"])
    assert console.login(admin, code).headers["Location"].endswith("/admin/")
    from tests.admin.conftest import Console

    other = Console(app.test_client())
    replayed = other.login(admin, code)
    assert replayed.status_code == 401 and "déjà utilisé" in replayed.text
    assert other.client.get("/admin/").status_code == 302
    # The next code of the window is still accepted.
    assert other.post_code(code_for(admin["seed"], 1)).status_code == 302


def test_repeated_wrong_codes_lock_the_account(app, client, console, make_admin):
    admin = make_admin(COLLEGE)
    console.post_password(admin["identifier"], admin["password"])
    threshold = app.config["LOCK_THRESHOLD"]
    for _ in range(threshold - 1):
        assert console.post_code(wrong_code(admin["seed"])).status_code == 401
    locked = console.post_code(wrong_code(admin["seed"]))
    assert locked.status_code == 302 and locked.headers["Location"].endswith("/connexion")
    assert "temporairement bloqué" in client.get("/admin/connexion").text
    with app.app_context():
        assert db.session.get(Account, admin["id"]).locked_until is not None
    # Locked: even the right password and code do not enter.
    again = console.post_password(admin["identifier"], admin["password"])
    assert again.status_code == 423


def test_wrong_passwords_count_like_the_login_page(app, console, make_admin):
    admin = make_admin(COLLEGE)
    for _ in range(app.config["LOCK_THRESHOLD"]):
        console.post_password(admin["identifier"], "wrong")
    response = console.post_password(admin["identifier"], admin["password"])
    assert response.status_code == 423 and "temporairement bloqué" in response.text


@pytest.mark.parametrize("role", ["eleve", "responsable"])
def test_only_administrators_may_enter(console, make_account, role):
    person = make_account(role=role)
    response = console.post_password(person["identifier"], person["password"])
    assert response.status_code == 403
    assert "réservé aux administrateurs" in response.text


def test_an_administrator_without_totp_is_told_to_ask_for_it(console, make_admin):
    admin = make_admin(COLLEGE, with_totp=False)
    response = console.post_password(admin["identifier"], admin["password"])
    assert response.status_code == 403 and "double authentification" in response.text


def test_the_code_step_needs_the_password_step(client):
    response = client.get("/admin/connexion/code")
    assert response.status_code == 302 and response.headers["Location"].endswith("/connexion")


def test_logging_out_ends_the_console_session(client, console, logged_in):
    logged_in(COLLEGE)
    response = console.post("/admin/deconnexion")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302
