"""Lost identifier ("Identifiant perdu"): parents by SMS, pupils by e-mail, through the
hosted pages; nobody learns whether an account exists."""

import time

from idp.metrics import MESSAGES
from idp.services.messages import MessageError
from idp.services.phone_codes import DAILY_LIMIT
from tests.conftest import csrf_from
from tests.recovery.conftest import events
from tests.recovery.conftest import submit

SENT_SMS = "Si ces informations correspondent à un compte, vous allez recevoir votre " \
           "identifiant par SMS"
SENT_MAIL = "Si ces informations correspondent à un compte, vous allez recevoir votre " \
            "identifiant par courriel"


def _parent(client, family_name="Durand", given_name="Claire", mobile="06 12 34 56 78"):
    return submit(client, "/recuperation/identifiant/parent",
                  {"family_name": family_name, "given_name": given_name, "mobile": mobile})


def _pupil(client, email):
    return submit(client, "/recuperation/identifiant/eleve", {"email": email})


def test_the_chooser_leads_parents_and_pupils_to_their_form(client):
    page = client.get("/recuperation/identifiant?flow=abc-123")
    assert page.status_code == 200
    assert "/recuperation/identifiant/parent?flow=abc-123" in page.text
    assert "/recuperation/identifiant/eleve?flow=abc-123" in page.text


def test_parent_receives_the_identifier_by_sms(client, make_parent, outbox, app):
    parent = make_parent()
    response = _parent(client, "durand", "CLAIRE", "+33 6 12 34 56 78")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert SENT_SMS in page.text
    [sms] = outbox.all()
    assert sms["channel"] == "sms" and sms["to"] == parent["phone"]
    assert f"votre identifiant est {parent['identifier']}" in sms["body"]
    # The birth name in the school files works as well as the usage name.
    outbox.clear()
    _parent(client, family_name="Legrand")
    assert [m["to"] for m in outbox.all()] == [parent["phone"]]
    requested = events(app, "recovery.identifier_requested")
    assert [e.details["matches"] for e in requested] == [1, 1]
    assert len(events(app, "recovery.identifier_sent")) == 2


def test_identifier_sms_count_toward_the_numbers_daily_limit(client, make_parent, outbox,
                                                             app):
    parent = make_parent()
    codes = app.extensions["idp"].phone_codes
    with app.app_context():
        # The day's SMS to this number, codes and answers alike, are all sent.
        sent = [codes.send_answer(parent["phone"], "recovery_identifier", identifiers=["x"])
                for _ in range(DAILY_LIMIT + 1)]
    assert sent == [True] * DAILY_LIMIT + [False]
    outbox.clear()
    response = _parent(client)
    # The person is told the same; no SMS goes out, and the refusal is recorded.
    assert SENT_SMS in client.get(response.headers["Location"]).text
    assert outbox.all() == []
    [refused] = events(app, "recovery.identifier_not_sent")
    assert refused.details["reason"] == "daily_limit"


def test_two_accounts_on_one_mobile_get_one_sms_with_both(client, make_parent, make_account,
                                                          outbox, family):
    parent = make_parent()
    other = make_account(role="responsable", given_name="Claire", family_name="Durand",
                         phone_number=family["e164"])
    _parent(client)
    [sms] = outbox.all()
    assert parent["identifier"] in sms["body"] and other["identifier"] in sms["body"]
    assert "vos identifiants sont" in sms["body"]


def test_pupil_receives_the_identifier_by_email_with_siblings_sharing_it(
        client, make_pupil, outbox, app):
    enora = make_pupil("Enora", email="famille.durand@example.org")
    malo = make_pupil("Malo", email="Famille.Durand@example.org")
    response = _pupil(client, "FAMILLE.durand@example.org")
    assert SENT_MAIL in client.get(response.headers["Location"]).text
    [mail] = outbox.all()
    assert mail["channel"] == "mail" and mail["to"] == "FAMILLE.durand@example.org"
    assert enora["identifier"] in mail["body"] and malo["identifier"] in mail["body"]
    assert "http://localhost/login" in mail["body"]
    assert {e.account_id for e in events(app, "recovery.identifier_sent")} == \
        {enora["id"], malo["id"]}


def test_unknown_people_see_the_same_page_and_nothing_is_sent(
        client, make_parent, make_pupil, outbox, app):
    make_parent()
    make_pupil("Enora", email="enora@example.org", verified=False)
    known = _parent(client)
    outbox.clear()
    for response in (_parent(client, given_name="Bernard"),
                     _parent(client, mobile="06 98 76 54 32"),
                     _parent(client, family_name="Inconnu", given_name="Personne")):
        assert response.status_code == known.status_code == 302
        assert response.headers["Location"] == known.headers["Location"]
    assert SENT_SMS in client.get(known.headers["Location"]).text
    pupil_pages = [_pupil(client, "enora@example.org"), _pupil(client, "nobody@example.org")]
    assert {r.headers["Location"] for r in pupil_pages} == \
        {"/recuperation/identifiant/envoye?canal=courriel"}
    assert outbox.all() == []
    assert [e.details["matches"] for e in events(app, "recovery.identifier_requested")] == \
        [1, 0, 0, 0, 0, 0]


def test_invalid_input_is_explained_next_to_the_field(client, outbox):
    missing = _parent(client, family_name="", mobile="12")
    assert missing.status_code == 422
    assert "Saisissez votre nom." in missing.text
    assert "numéro de téléphone portable valide" in missing.text
    bad_mail = _pupil(client, "pas-une-adresse")
    assert bad_mail.status_code == 422 and "adresse électronique valide" in bad_mail.text
    assert outbox.all() == []


def test_a_gateway_failure_is_logged_and_counted_not_shown(client, make_parent, outbox, app):
    make_parent()
    messages = app.extensions["idp"].messages
    original = messages.sms_backend

    class Down:
        def send(self, message):
            raise MessageError("down")

    failed = MESSAGES.labels("sms", "failed")._value.get()
    messages.sms_backend = Down()
    try:
        response = _parent(client)
    finally:
        messages.sms_backend = original
    assert response.status_code == 302
    assert SENT_SMS in client.get(response.headers["Location"]).text
    assert MESSAGES.labels("sms", "failed")._value.get() == failed + 1
    [event] = events(app, "recovery.identifier_not_sent")
    assert event.details == {"channel": "sms", "reason": "gateway"}


def test_requests_are_limited_per_number_even_unknown_ones(client, make_parent, outbox, app):
    make_parent()
    for mobile in ("06 12 34 56 78", "06 98 76 54 32"):
        for _ in range(5):
            assert _parent(client, mobile=mobile).status_code == 302
        refused = _parent(client, mobile=mobile)
        assert refused.status_code == 429
        assert "trop de demandes" in refused.text
    assert len(outbox.all()) == 5
    assert len(events(app, "recovery.rate_limited")) == 2


def test_requests_are_limited_per_network(client, outbox):
    for number in range(20):
        assert _pupil(client, f"eleve{number}@example.org").status_code == 302
    refused = _pupil(client, "encore@example.org")
    assert refused.status_code == 429
    # Another network is not concerned.
    other = client.application.test_client()
    page = other.get("/recuperation/identifiant/eleve",
                     environ_base={"REMOTE_ADDR": "192.0.2.9"})
    response = other.post("/recuperation/identifiant/eleve",
                          data={"email": "encore@example.org", "csrf_token": csrf_from(page.text)},
                          environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert response.status_code == 302


def test_the_message_leaves_after_the_response(client, make_parent, app):
    make_parent()
    messages = app.extensions["idp"].messages
    original = messages.sms_backend
    sent = []

    class SlowGateway:
        def send(self, message):
            time.sleep(0.5)
            sent.append(message)

    messages.sms_backend = SlowGateway()
    try:
        page = client.get("/recuperation/identifiant/parent")
        started = time.perf_counter()
        response = client.post("/recuperation/identifiant/parent", data={
            "csrf_token": csrf_from(page.text), "family_name": "Durand",
            "given_name": "Claire", "mobile": "06 12 34 56 78"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 302 and sent == []
        # The server closes the response once sent: only then does the SMS leave.
        response.close()
    finally:
        messages.sms_backend = original
    assert elapsed < 0.5
    assert len(sent) == 1
