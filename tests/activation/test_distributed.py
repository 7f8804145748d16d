"""First login of distributed accounts: pupils, and parents who could not self-activate."""

import html
import re
import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from idp.directory import family as family_service
from idp.extensions import db
from idp.models import Account
from idp.services.messages import SmtpBackend
from tests.activation.conftest import PROVISIONAL
from tests.activation.conftest import parent_identity
from tests.activation.conftest import submit


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on loopback; the app's mail goes through it during the test."""
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    messages = app.extensions["idp"].messages
    original = messages.mail_backend
    messages.mail_backend = SmtpBackend("127.0.0.1", port, "EduConnect <noreply@example.org>",
                                        starttls=False)
    yield received
    messages.mail_backend = original
    controller.stop()


def _login(browser, identifier, password, start="/login"):
    return submit(browser, start, {"identifier": identifier, "password": password})


def test_pupil_activates_with_birthdate_and_confirms_email_through_smtp(
        client, rp, family, provisional, smtp_server, app):
    identifier = provisional(family["pupil_accounts"]["Enora"])
    start = rp.authorize()
    step = _login(client, identifier, PROVISIONAL, start.headers["Location"])
    assert "/activation/compte/mot-de-passe" in step.headers["Location"]
    page = client.get(step.headers["Location"])
    assert "Étape 1 sur 4" in page.text and identifier in page.text
    identity = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    wrong = submit(client, identity, {"birthdate": "01/01/2011"})
    assert wrong.status_code == 422 and "ne correspond pas" in wrong.text
    email_step = submit(client, identity, {"birthdate": "14/03/2012"})
    posted = submit(client, email_step, {"email": "enora@example.org", "action": "save"})
    # The last page says where the confirmation link went, then leads to the service;
    # it is reached by a redirect, so that reloading it never posts the form again.
    assert posted.status_code == 303
    done = client.get(posted.headers["Location"])
    assert done.status_code == 200
    assert client.get(posted.headers["Location"]).text == done.text
    text = html.unescape(done.text)
    assert "Un lien de confirmation a été envoyé à enora@example.org." in text
    assert "Étape 4 sur 4 - Accès aux services" in text
    onward = re.search(r'<a class="fr-btn" href="([^"]+)">Accéder au service</a>', done.text)
    callback = rp.follow_to_callback(client.get(html.unescape(onward.group(1))))
    assert rp.token(callback["code"]).status_code == 200

    assert len(smtp_server) == 1
    mail = smtp_server[0]
    assert mail["To"] == "enora@example.org"
    body = mail.get_payload(decode=True).decode()
    link = re.search(r"(http://localhost/activation/courriel/\S+)", body).group(1)
    path = link.replace("http://localhost", "")
    confirm = submit(app.test_client(), path, {})
    assert "Adresse électronique confirmée" in confirm.text
    with app.app_context():
        account = db.session.execute(
            select(Account).where(Account.identifier == identifier)).scalar_one()
        assert account.status == "active" and account.email_verified
        assert account.provisional_expires_at is None
    # The link is single use.
    assert app.test_client().get(path).status_code == 400
    # The provisional password no longer works; the new one does.
    assert _login(app.test_client(), identifier, PROVISIONAL).status_code == 401
    assert _login(app.test_client(), identifier, "Ciel-Rouge-Matin-7").status_code == 302


def test_pupil_may_skip_the_email(client, family, provisional):
    identifier = provisional(family["pupil_accounts"]["Malo"])
    step = _login(client, identifier, PROVISIONAL)
    identity = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    email_step = submit(client, identity, {"birthdate": "02/09/2013"})
    done = submit(client, email_step, {"action": "skip"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/compte")


@pytest.mark.parametrize("typed", ["k7px-m3qd-9wht", "K7PXM3QD9WHT", "k7px m3qd 9wht"])
def test_printed_provisional_password_is_accepted_however_it_is_typed(client, family,
                                                                     provisional, typed):
    identifier = provisional(family["pupil_accounts"]["Malo"], password="K7PX-M3QD-9WHT")
    step = _login(client, identifier, typed)
    assert step.status_code == 302
    assert "/activation/" in step.headers["Location"]


def test_only_provisional_passwords_are_read_that_way(client, make_account):
    person = make_account(password="K7PX-M3QD-9WHT")
    response = _login(client, person["identifier"], "k7pxm3qd9wht")
    assert response.status_code == 401


def test_expired_provisional_password_is_refused(client, family, provisional):
    identifier = provisional(family["pupil_accounts"]["Enora"], days=-1)
    response = _login(client, identifier, PROVISIONAL)
    assert response.status_code == 401
    assert "mot de passe provisoire a expiré" in response.text


def test_distributed_parent_confirms_children_and_gives_an_email(client, family, provisional,
                                                                 app, outbox):
    identity = parent_identity(app, family["e164"])
    with app.app_context():
        account = family_service.create_parent_account(
            db.session.merge(identity))
        db.session.commit()
        account_id = account.id
    identifier = provisional(account_id)
    step = _login(client, identifier, PROVISIONAL)
    children = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    page = client.get(children.headers["Location"])
    assert "Enora" in page.text and "Étape 2 sur 4" in page.text
    answers = {f"birthdate-{pid}": family["birthdates"][name]
               for name, pid in family["pupils"].items()}
    email_step = submit(client, children, answers)
    missing = submit(client, email_step, {"email": "", "action": "save"})
    assert missing.status_code == 422
    posted = submit(client, email_step, {"email": "claire@example.org", "action": "save"})
    assert posted.status_code == 303
    done = client.get(posted.headers["Location"])
    assert done.status_code == 200
    assert "Un lien de confirmation a été envoyé à claire@example.org." in done.text
    # Without a service waiting, the page leads to the account page, already logged in.
    assert '<a class="fr-btn" href="/compte">Accéder à mon compte</a>' in done.text
    assert client.get("/compte").status_code == 200
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account.status == "active"
    mails = [m for m in outbox.all() if m["channel"] == "mail"]
    assert mails and mails[-1]["to"] == "claire@example.org"


def test_the_activated_page_reloaded_long_after_leads_to_the_account(client):
    # Its flow is gone (10 minutes): the account is active, its page is where to go.
    page = client.get("/activation/compte/activee?f=gone")
    assert page.status_code == 302 and page.headers["Location"].endswith("/compte")
