"""`idp accounts distribute|reset` and `idp admins create|reset-totp`."""

import html
import re
import stat

import pyotp

from idp.extensions import db
from idp.models import Account
from idp.models import AdminScope
from tests.admin.conftest import COLLEGE
from tests.admin.conftest import LYCEE
from tests.admin.conftest import Console


def test_distribute_writes_one_notice_per_page_and_prints_a_summary(app, cli, directory,
                                                                    tmp_path):
    school = directory.school(COLLEGE, "Collège Jean Moulin")
    jean = directory.pupil(school, "Jean", "MARTIN", "3A")
    directory.pupil(school, "Lina", "BERNARD", "3A", state="active")
    directory.pupil(school, "Emma", "ROUX", "4B")
    out = tmp_path / "notices.html"
    result, data = cli("accounts", "distribute", "--uai", COLLEGE.lower(), "--class", "3A",
                       "--role", "eleve", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert data["notices"] == data["pupils"] == 1 and data["out"] == str(out)
    assert data["skipped"][0]["reason"].startswith("compte déjà activé")
    assert "password" not in result.output.lower()
    document = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert document.count('<article class="notice"') == 1
    assert "<style>" in document and "page-break-after: always" in document
    password = re.search(r'Mot de passe provisoire</dt>\s*<dd class="notice__code">([^<]+)<',
                         document).group(1)
    assert jean.identifier in document and "Collège Jean Moulin" in html.unescape(document)
    with app.app_context():
        account = db.session.get(Account, jean.account_id)
        assert app.extensions["idp"].passwords.verify(account.password_hash, password)


def test_distribute_text_output_and_errors(cli, directory, tmp_path):
    directory.school()
    result, _ = cli("accounts", "distribute", "--uai", COLLEGE, "--out",
                    str(tmp_path / "n.html"), as_json=False)
    assert result.exit_code == 0 and "0 notices written" in result.output
    bad, _ = cli("accounts", "distribute", "--uai", "0830901X", "--out",
                 str(tmp_path / "x.html"))
    assert bad.exit_code != 0 and "key letter" in bad.output
    absent, _ = cli("accounts", "distribute", "--uai", LYCEE, "--out", str(tmp_path / "y.html"))
    assert absent.exit_code != 0 and "absent" in absent.output
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "y.html").exists()


def test_reset_prints_a_new_provisional_password(app, cli, directory):
    school = directory.school()
    pupil = directory.pupil(school, state="active")
    result, data = cli("accounts", "reset", pupil.identifier)
    assert result.exit_code == 0, result.output
    assert data["identifier"] == pupil.identifier
    with app.app_context():
        account = db.session.get(Account, pupil.account_id)
        assert account.status == "provisional"
        assert app.extensions["idp"].passwords.verify(account.password_hash, data["password"])
    missing, _ = cli("accounts", "reset", "x.nobody")
    assert missing.exit_code != 0 and "no account" in missing.output


def test_admins_create_prints_the_totp_secret_that_opens_the_console(app, cli, directory):
    directory.school()
    # Only schools of the directory can be given to an administrator.
    unknown, _ = cli("admins", "create", "--identifier", "adm.moulin", "--uai", COLLEGE,
                     "--uai", LYCEE, "--password", "Admin-Console-2026")
    assert unknown.exit_code != 0 and f"UAI {LYCEE}: no such school" in unknown.output
    directory.school(LYCEE, "Lycée Victor Hugo")
    result, data = cli("admins", "create", "--identifier", "adm.moulin", "--uai", COLLEGE,
                       "--uai", LYCEE.lower(), "--password", "Admin-Console-2026")
    assert result.exit_code == 0, result.output
    assert data["uais"] == sorted([COLLEGE, LYCEE])
    assert data["otpauth_uri"].startswith("otpauth://totp/EduConnect:adm.moulin?")
    assert pyotp.parse_uri(data["otpauth_uri"]).secret == data["totp_secret"]
    with app.app_context():
        account = db.session.execute(
            db.select(Account).where(Account.identifier == "adm.moulin")).scalar_one()
        assert account.role == "admin" and data["totp_secret"] not in (
            account.totp_secret_encrypted)
        assert sorted(db.session.execute(db.select(AdminScope.uai)).scalars()) == data["uais"]
    admin = {"identifier": "adm.moulin", "password": "Admin-Console-2026",
             "seed": data["totp_secret"]}
    console = Console(app.test_client())
    assert console.login(admin).headers["Location"].endswith("/admin/")
    bad, _ = cli("admins", "create", "--identifier", "adm.x", "--uai", "123", "--password", "p")
    assert bad.exit_code != 0 and "UAI" in bad.output


def test_admins_reset_totp_replaces_the_secret(app, cli, make_admin):
    admin = make_admin(COLLEGE)
    result, data = cli("admins", "reset-totp", admin["identifier"])
    assert result.exit_code == 0, result.output
    assert data["totp_secret"] != admin["seed"]
    console = Console(app.test_client())
    assert console.login(admin).status_code == 401  # the old secret no longer works
    assert console.post_code(pyotp.TOTP(data["totp_secret"]).now()).status_code == 302
