"""Parents' self-activation by SMS, through the hosted pages."""

import threading
import time

from sqlalchemy import select

from idp.directory.models import ChildConfirmation
from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.services import phone_codes
from tests.activation.conftest import parent_identity
from tests.activation.conftest import submit


def _identify(client, family, **overrides):
    data = {"family_name": family["usage_name"], "given_name": family["given_name"],
            "mobile": family["mobile"], **overrides}
    return submit(client, "/activation/parent", data)


def _children_answers(family, **overrides):
    data = {}
    for name, pid in family["pupils"].items():
        data[f"birthdate-{pid}"] = overrides.get(name, family["birthdates"][name])
    return data


def test_parent_activates_and_resumes_the_services_request(client, rp, family, outbox, app):
    start = rp.authorize()
    login_page = client.get(start.headers["Location"])
    assert "/activation/?flow=" in login_page.text.replace("&amp;", "&")
    flow = start.headers["Location"].split("flow=")[1]

    page = client.get(f"/activation/?flow={flow}")
    assert page.status_code == 200
    response = submit(client, f"/activation/parent?flow={flow}",
                      {"family_name": "durand", "given_name": "claire",
                       "mobile": "+33 6 12 34 56 78"})
    assert response.status_code == 302, response.text[:400]
    code = outbox.last_code(family["e164"])
    children = submit(client, response, {"code": code})
    assert "/activation/parent/enfants" in children.headers["Location"]
    page = client.get(children.headers["Location"])
    assert "Enora" in page.text and "Malo" in page.text
    assert "Étape 3 sur 5" in page.text
    password_step = submit(client, children, _children_answers(family))
    page = client.get(password_step.headers["Location"])
    identifier = page.text.split('class="idp-identifier">')[1].split("<")[0]
    assert identifier.startswith("c.durand")
    done = submit(client, password_step, {"password": "Lune-Verte-Tortue-9",
                                          "confirmation": "Lune-Verte-Tortue-9"})
    callback = rp.follow_to_callback(done)
    tokens = rp.token(callback["code"]).json
    assert "id_token" in tokens
    with app.app_context():
        account = db.session.execute(
            select(Account).where(Account.identifier == identifier)).scalar_one()
        assert account.status == "active" and account.phone_number == family["e164"]
        assert account.phone_number_verified
        confirmed = db.session.execute(select(ChildConfirmation).where(
            ChildConfirmation.account_id == account.id)).scalars().all()
        assert len([c for c in confirmed if c.confirmed_at]) == 2
        events = {e.event for e in db.session.execute(select(AuditEvent)).scalars()}
    assert {"activation.code_sent", "activation.phone_verified", "account.activated"} <= events
    # The new password works at the login page.
    other = app.test_client()
    login = submit(other, "/login", {"identifier": identifier,
                                     "password": "Lune-Verte-Tortue-9"})
    assert login.status_code == 302


def test_mismatching_identity_never_says_who_exists(client, family, outbox):
    response = _identify(client, family, given_name="Bernard")
    assert response.status_code == 422
    assert "ne permettent pas de vous identifier" in response.text
    other_phone = _identify(client, family, mobile="0698765432")
    assert other_phone.status_code == 422 and other_phone.text.count("identifier") >= 1
    assert outbox.all() == []


def test_invalid_phone_is_explained_next_to_the_field(client, family):
    response = _identify(client, family, mobile="12")
    assert response.status_code == 200
    assert "numéro de téléphone portable valide" in response.text


def test_wrong_code_leaves_tries_then_blocks(client, family, outbox, app):
    step = _identify(client, family)
    url = step.headers["Location"]
    first = submit(client, url, {"code": "000000"})
    assert first.status_code == 401 and "Il vous reste 2 essai" in first.text
    submit(client, url, {"code": "000001"})
    third = submit(client, url, {"code": "000002"})
    assert "trop de codes incorrects" in third.text
    # Even the right code no longer works: a new one must be requested.
    right = submit(client, url, {"code": outbox.last_code(family["e164"])})
    assert right.status_code == 401
    # Each refusal is on record.
    with app.app_context():
        refused = db.session.execute(
            select(AuditEvent).where(AuditEvent.event == "activation.code_refused")
            .order_by(AuditEvent.id)
        ).scalars().all()
        assert [e.details["outcome"] for e in refused] == [
            "wrong", "wrong", "exhausted", "exhausted"]


def test_expired_code_is_refused(client, family, outbox, monkeypatch):
    step = _identify(client, family)
    code = outbox.last_code(family["e164"])
    later = time.time() + phone_codes.CODE_TTL + 1
    monkeypatch.setattr(phone_codes.time, "time", lambda: later)
    response = submit(client, step.headers["Location"], {"code": code})
    assert "Ce code a expiré" in response.text


def test_resend_waits_60_seconds_and_at_most_5_sms_a_day(client, family, outbox,
                                                         monkeypatch):
    step = _identify(client, family)
    url = step.headers["Location"]
    too_soon = submit(client, url, {"action": "resend"})
    assert "Vous pourrez en demander un nouveau" in too_soon.text
    now = [time.time()]
    monkeypatch.setattr(phone_codes.time, "time", lambda: now[0])
    for _ in range(4):
        now[0] += 61
        assert "Un nouveau code vous a été envoyé" in submit(client, url,
                                                            {"action": "resend"}).text
    now[0] += 61
    limited = submit(client, url, {"action": "resend"})
    assert "Trop de codes ont été envoyés à ce numéro" in limited.text
    assert len(outbox.all()) == 5


def test_gateway_failure_is_told_and_consumes_nothing(client, family, outbox, app):
    messages = app.extensions["idp"].messages
    original = messages.sms_backend

    class Down:
        def send(self, message):
            raise phone_codes.MessageError("down")

    messages.sms_backend = Down()
    try:
        response = _identify(client, family)
    finally:
        messages.sms_backend = original
    assert response.status_code == 503
    assert "L&#39;envoi du SMS a échoué" in response.text
    retry = _identify(client, family)
    assert retry.status_code == 302


def test_wrong_birth_date_and_refused_child(client, family, outbox, app):
    step = _identify(client, family)
    children = submit(client, step, {"code": outbox.last_code(family["e164"])})
    url = children.headers["Location"]
    wrong = submit(client, url, _children_answers(family, Enora="15/03/2012"))
    assert wrong.status_code == 422
    assert "ne correspond pas" in wrong.text
    malo = family["pupils"]["Malo"]
    answers = _children_answers(family)
    answers.pop(f"birthdate-{malo}")
    answers[f"refused-{malo}"] = "1"
    password_step = submit(client, url, answers)
    submit(client, password_step, {"password": "Lune-Verte-Tortue-9",
                                   "confirmation": "Lune-Verte-Tortue-9"})
    with app.app_context():
        rows = {c.pupil_id: c for c in db.session.execute(select(ChildConfirmation)).scalars()}
    assert rows[malo].refused_at is not None and rows[malo].confirmed_at is None
    assert rows[family["pupils"]["Enora"]].confirmed_at is not None


def test_too_many_wrong_birth_dates_end_the_activation(client, family, outbox):
    step = _identify(client, family)
    children = submit(client, step, {"code": outbox.last_code(family["e164"])})
    url = children.headers["Location"]
    for _ in range(4):
        submit(client, url, _children_answers(family, Enora="01/01/2000"))
    final = submit(client, url, _children_answers(family, Enora="01/01/2000"))
    assert final.status_code == 403
    assert client.get(url).status_code == 400


def test_weak_or_mismatched_passwords_are_refused(client, family, outbox):
    step = _identify(client, family)
    children = submit(client, step, {"code": outbox.last_code(family["e164"])})
    password_step = submit(client, children, _children_answers(family))
    url = password_step.headers["Location"]
    for password, confirmation, message in (
        ("court", "court", "au moins 8"),
        ("azerty123", "azerty123", "trop courant"),
        ("Lune-Verte-Tortue-9", "Lune-Verte-Tortue-8", "pas identiques"),
        ("claire2012", "claire2012", "votre nom"),
    ):
        response = submit(client, url, {"password": password, "confirmation": confirmation})
        assert response.status_code == 422 and message in response.text, password


def test_parent_with_an_active_account_is_sent_to_login(client, family, outbox, app):
    first = app.test_client()
    step = _identify(first, family)
    children = submit(first, step, {"code": outbox.last_code(family["e164"])})
    password_step = submit(first, children, _children_answers(family))
    submit(first, password_step, {"password": "Lune-Verte-Tortue-9",
                                  "confirmation": "Lune-Verte-Tortue-9"})
    identity = parent_identity(app, family["e164"])
    time.sleep(0)
    again = _identify(client, family)
    existing = submit(client, again, {"code": outbox.last_code(family["e164"])})
    page = client.get(existing.headers["Location"])
    assert "Vous avez déjà un compte EduConnect" in page.text
    with app.app_context():
        accounts = db.session.execute(select(Account).where(
            Account.role == "responsable")).scalars().all()
    assert len(accounts) == 1 and accounts[0].id == identity.account_id


def test_double_submission_of_the_last_step_activates_once(client, family, outbox, app):
    step = _identify(client, family)
    children = submit(client, step, {"code": outbox.last_code(family["e164"])})
    password_step = submit(client, children, _children_answers(family))
    url = password_step.headers["Location"]
    page = client.get(url)
    from tests.conftest import csrf_from

    token = csrf_from(page.text)
    flow = url.split("f=")[1]
    cookie = client.get_cookie("idp_csrf").value
    results = []
    barrier = threading.Barrier(4)

    def post():
        browser = app.test_client()
        browser.set_cookie("idp_csrf", cookie)
        barrier.wait()
        results.append(browser.post("/activation/parent/mot-de-passe", data={
            "csrf_token": token, "f": flow, "password": "Lune-Verte-Tortue-9",
            "confirmation": "Lune-Verte-Tortue-9"}).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [302, 400, 400, 400]
    with app.app_context():
        activated = db.session.execute(select(AuditEvent).where(
            AuditEvent.event == "account.activated")).scalars().all()
    assert len(activated) == 1
