"""What the activation pages tell people, and how (RGAA): each child named in the error
summary, a new code's status announced, the resend delay neither an error nor a
surprise, the 30-minute limit said at the start and an expired page that leads back to
the start of the same journey, the mismatched confirmation on its own field, a masked
number readable aloud, steps that agree, and the confirmation link a pupil was sent."""

import html
import re
import time

from idp.activation import service
from idp.directory import family as family_service
from idp.extensions import db
from idp.services import password_policy
from idp.services import phone_codes
from tests.activation.conftest import PROVISIONAL
from tests.activation.conftest import field
from tests.activation.conftest import flow_of
from tests.activation.conftest import notices
from tests.activation.conftest import parent_identity
from tests.activation.conftest import submit
from tests.activation.conftest import summary
from tests.activation.conftest import title
from tests.conftest import csrf_from
from tests.recovery.conftest import expire_flow

FLOW_TTL = 1800


def _identify(client, family, path="/activation/parent"):
    return submit(client, path, {"family_name": family["usage_name"],
                                 "given_name": family["given_name"],
                                 "mobile": family["mobile"]})


def _to_children(client, family, outbox, path="/activation/parent"):
    step = _identify(client, family, path)
    return submit(client, step, {"code": outbox.last_code(family["e164"])})


# -- children: one message per child, naming them -------------------------------------


def test_children_errors_name_each_child_in_the_summary(client, family, outbox):
    children = _to_children(client, family, outbox)
    enora, malo = family["pupils"]["Enora"], family["pupils"]["Malo"]
    # The parent leaves Enora's date empty and gets Malo's wrong.
    page = submit(client, children, {f"birthdate-{enora}": "",
                                     f"birthdate-{malo}": "03/09/2013"})
    assert page.status_code == 422
    assert summary(page) == [
        (f"#birthdate-{enora}",
         "Enora DURAND : saisissez la date de naissance au format JJ/MM/AAAA."),
        (f"#birthdate-{malo}",
         "Malo DURAND : la date de naissance ne correspond pas à celle connue de "
         "l'établissement."),
    ]
    # Each field is marked and described by its own message.
    for pid in (enora, malo):
        tag = field(page, f"birthdate-{pid}")
        assert 'aria-invalid="true"' in tag
        assert f'aria-describedby="birthdate-{pid}-desc-error"' in tag
    assert 'value="03/09/2013"' in field(page, f"birthdate-{malo}")


def test_two_children_with_the_same_mistake_get_two_different_lines(client, family, outbox):
    children = _to_children(client, family, outbox)
    page = submit(client, children, {f"birthdate-{pid}": "pas une date"
                                     for pid in family["pupils"].values()})
    texts = [text for _, text in summary(page)]
    assert len(texts) == 2 and len(set(texts)) == 2
    assert texts[0].startswith("Enora DURAND : ") and texts[1].startswith("Malo DURAND : ")


def test_distributed_parent_sees_named_children_errors_too(client, family, provisional, app):
    identity = parent_identity(app, family["e164"])
    with app.app_context():
        account = family_service.create_parent_account(db.session.merge(identity))
        db.session.commit()
        account_id = account.id
    identifier = provisional(account_id)
    step = submit(client, "/login", {"identifier": identifier, "password": PROVISIONAL})
    children = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    assert "/activation/compte/identite" in children.headers["Location"]
    page = submit(client, children, {f"birthdate-{pid}": "01/01/2000"
                                     for pid in family["pupils"].values()})
    assert [text.split(" : ")[0] for _, text in summary(page)] == ["Enora DURAND",
                                                                    "Malo DURAND"]


# -- SMS code: statuses, never a field error ----------------------------------------------


def test_the_resend_delay_is_said_before_and_is_a_status_after(client, family, outbox):
    step = _identify(client, family)
    page = client.get(step.headers["Location"])
    text = html.unescape(page.text)
    assert "vous pourrez en demander un nouveau au bout de 60 secondes" in text

    too_soon = submit(client, step, {"action": "resend"})
    assert too_soon.status_code == 429
    # Nothing was typed: no error summary, no invalid field, no "Erreur - " in the title.
    assert summary(too_soon) == []
    assert "aria-invalid" not in field(too_soon, "code")
    assert title(too_soon) == "Étape 2 sur 5 - Code reçu par SMS - EduConnect"
    [(level, role, message)] = notices(too_soon)
    assert (level, role) == ("info", "status")
    assert re.fullmatch(r"Information : Un code vient de vous être envoyé\. Vous pourrez en "
                        r"demander un nouveau dans \d+ secondes\.", message), message
    assert len(outbox.all()) == 1


def test_a_new_code_is_announced_and_the_daily_limit_is_an_alert(client, family, outbox,
                                                                 monkeypatch):
    step = _identify(client, family)
    now = [time.time()]
    monkeypatch.setattr(phone_codes.time, "time", lambda: now[0])
    for _ in range(4):
        now[0] += 61
        sent = submit(client, step, {"action": "resend"})
        assert sent.status_code == 200
        assert notices(sent) == [("success", "status",
                                  "Succès : Un nouveau code vous a été envoyé.")]
    now[0] += 61
    limited = submit(client, step, {"action": "resend"})
    [(level, role, message)] = notices(limited)
    assert (level, role) == ("error", "alert")
    assert "Trop de codes ont été envoyés à ce numéro aujourd'hui" in message
    assert title(limited).startswith("Erreur - ")
    assert summary(limited) == [] and "aria-invalid" not in field(limited, "code")


def test_a_wrong_code_is_still_the_fields_error(client, family, outbox):
    step = _identify(client, family)
    wrong = submit(client, step, {"code": "000000" if outbox.last_code(family["e164"])
                                  != "000000" else "111111"})
    assert summary(wrong) == [("#code", "Le code saisi est incorrect. Il vous reste 2 "
                                        "essai(s).")]
    assert 'aria-invalid="true"' in field(wrong, "code")


def test_the_masked_number_is_written_as_typed_and_read_as_its_end(client, family, outbox):
    step = _identify(client, family)
    page = client.get(step.headers["Location"])
    assert "+336" not in page.text
    assert ('au <span aria-hidden="true">06 •• •• 56 78</span><span class="fr-sr-only">'
            'numéro se terminant par 56 78</span>.') in page.text


def test_masked_phone_formats():
    assert service.masked_phone("+33612345678") == {"shown": "06 •• •• 56 78",
                                                    "end": "56 78"}
    # Overseas departments write their numbers as in France: 0690 12 34 56.
    assert service.masked_phone("+590690123456")["shown"] == "06 •• •• 34 56"
    # Other countries keep their international form.
    assert service.masked_phone("+32470123456") == {"shown": "+324 •• •• 34 56",
                                                    "end": "34 56"}


# -- the 30-minute limit, and the page once it has passed ----------------------------------


def test_the_time_limit_is_said_where_the_journey_starts(client, app):
    minutes = app.config["FLOW_TTL"] // 60
    assert minutes == FLOW_TTL // 60 == 30
    start = html.unescape(client.get("/activation/").text)
    assert "J'ai 30 minutes pour aller jusqu'au bout." in start
    identify = html.unescape(client.get("/activation/parent").text)
    assert "Vous aurez 30 minutes pour terminer l'activation" in identify


def test_an_expired_activation_leads_back_to_its_start_with_the_services_request(
        client, rp, family, outbox, app):
    start = rp.authorize()
    authorize = start.headers["Location"].split("flow=")[1]
    step = submit(client, f"/activation/parent?flow={authorize}",
                  {"family_name": family["usage_name"], "given_name": family["given_name"],
                   "mobile": family["mobile"]})
    location = step.headers["Location"]
    assert f"flow={authorize}" in location
    page = client.get(location)
    # The parent leaves the page open for more than 30 minutes.
    expire_flow(app, flow_of(location), FLOW_TTL)
    # The code typed then is posted to the page's address, which carries the request.
    expired = client.post(location, data={"csrf_token": csrf_from(page.text),
                                          "f": flow_of(location), "code": "123456"})
    assert expired.status_code == 400
    assert title(expired) == "Erreur - Session expirée - EduConnect"
    assert "30 minutes" in html.unescape(expired.text)
    assert "Revenir à la page précédente" not in expired.text
    restart = re.search(r'<a class="fr-btn" href="([^"]+)">Recommencer</a>', expired.text)
    assert html.unescape(restart.group(1)) == f"/activation/parent?flow={authorize}"
    # "Recommencer" starts again for the same service, which still gets its answer.
    again = client.get(html.unescape(restart.group(1)))
    assert f'name="flow" value="{authorize}"' in again.text


def test_an_expired_step_without_a_service_restarts_the_activation(client):
    expired = client.get("/activation/parent/enfants?f=inconnu")
    assert expired.status_code == 400
    assert '<a class="fr-btn" href="/activation/parent">Recommencer</a>' in expired.text


def test_an_expired_distributed_activation_goes_back_to_the_login(client, rp, family,
                                                                  provisional, app):
    identifier = provisional(family["pupil_accounts"]["Enora"])
    start = rp.authorize()
    authorize = start.headers["Location"].split("flow=")[1]
    step = rp.login(start, identifier, PROVISIONAL)
    page = client.get(step.headers["Location"])
    assert "Vous aurez 30 minutes pour terminer l'activation" in html.unescape(page.text)
    identity = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    location = identity.headers["Location"]
    expire_flow(app, flow_of(location), FLOW_TTL)
    expired = client.get(location)
    assert expired.status_code == 400
    back = re.search(r'<a class="fr-btn" href="([^"]+)">Retour à la connexion</a>',
                     expired.text)
    assert html.unescape(back.group(1)) == f"/login?flow={authorize}"


# -- passwords ------------------------------------------------------------------------------


def test_the_policy_message_of_a_mismatch_is_the_one_the_pages_look_for():
    verdict = password_policy.check("Lune-Verte-Tortue-9", "Lune-Verte-Tortue-8",
                                    min_length=8, min_score=0, personal=[])
    assert verdict.error == service.CONFIRMATION_DIFFERS
    assert service.password_errors(verdict.error) == {"confirmation": verdict.error}
    assert service.password_errors("Trop court.") == {"password": "Trop court."}
    assert service.password_errors(None) == {}


def _to_password(client, family, outbox):
    children = _to_children(client, family, outbox)
    return submit(client, children, {f"birthdate-{pid}": family["birthdates"][name]
                                     for name, pid in family["pupils"].items()})


def test_a_mismatched_confirmation_is_the_confirmation_fields_error(client, family, outbox):
    step = _to_password(client, family, outbox)
    page = submit(client, step, {"password": "Lune-Verte-Tortue-9",
                                 "confirmation": "Lune-Verte-Tortue-8"})
    assert page.status_code == 422
    assert summary(page) == [("#confirmation",
                              "Les deux mots de passe saisis ne sont pas identiques.")]
    assert 'aria-invalid="true"' in field(page, "confirmation")
    assert 'aria-describedby="confirmation-desc-error"' in field(page, "confirmation")
    assert "aria-invalid" not in field(page, "password")
    # Any other refusal stays on the password field.
    weak = submit(client, step, {"password": "azerty123", "confirmation": "azerty123"})
    assert [href for href, _ in summary(weak)] == ["#password"]


def test_each_show_password_checkbox_has_its_own_name(client, family, outbox):
    step = _to_password(client, family, outbox)
    page = client.get(step.headers["Location"])
    names = re.findall(r'<input id="[^"]+-show" type="checkbox" aria-label="([^"]+)">',
                       page.text)
    assert names == ["Afficher le nouveau mot de passe",
                     "Afficher la confirmation du mot de passe"]


# -- steps, and the last page ---------------------------------------------------------------


def test_the_announced_next_step_is_the_step_that_follows(client, family, outbox):
    children = _to_children(client, family, outbox)
    page = client.get(children.headers["Location"])
    announced = re.search(r"Étape suivante :</span> ([^<]+)</p>", page.text).group(1)
    step = submit(client, children, {f"birthdate-{pid}": family["birthdates"][name]
                                     for name, pid in family["pupils"].items()})
    password = client.get(step.headers["Location"])
    assert announced == "Identifiant et mot de passe"
    assert title(password) == f"Étape 4 sur 5 - {announced} - EduConnect"
    assert f'<h2 class="fr-stepper__title">{announced}' in password.text


def test_a_distributed_parents_first_step_announces_the_children(client, family,
                                                                 provisional, app):
    identity = parent_identity(app, family["e164"])
    with app.app_context():
        account = family_service.create_parent_account(db.session.merge(identity))
        db.session.commit()
        account_id = account.id
    step = submit(client, "/login", {"identifier": provisional(account_id),
                                     "password": PROVISIONAL})
    page = client.get(step.headers["Location"])
    assert "Étape suivante :</span> Confirmation des enfants" in page.text
    children = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    assert "Étape 2 sur 4 - Confirmation des enfants" in client.get(
        children.headers["Location"]).text


def test_a_pupil_is_told_where_the_confirmation_link_went(client, rp, family, provisional,
                                                          outbox):
    identifier = provisional(family["pupil_accounts"]["Malo"])
    step = rp.login(rp.authorize(), identifier, PROVISIONAL)
    page = client.get(step.headers["Location"])
    assert "Étape suivante :</span> Confirmation de l&#39;identité" in page.text
    identity = submit(client, step, {"password": "Ciel-Rouge-Matin-7",
                                     "confirmation": "Ciel-Rouge-Matin-7"})
    email_step = submit(client, identity, {"birthdate": "02/09/2013"})
    posted = submit(client, email_step, {"email": "malo@example.org", "action": "save"})
    assert posted.status_code == 303
    done = client.get(posted.headers["Location"])
    assert done.status_code == 200
    assert title(done) == "Étape 4 sur 4 - Accès aux services - EduConnect"
    assert notices(done) == [("success", "status", "Succès : Un lien de confirmation a été "
                                                   "envoyé à malo@example.org.")]
    assert "Ouvre ce lien dans les 24 heures" in html.unescape(done.text)
    [mail] = [m for m in outbox.all() if m["channel"] == "mail"]
    assert mail["to"] == "malo@example.org"
    # The pupil is logged in, and the button goes on to the service.
    onward = re.search(r'<a class="fr-btn" href="([^"]+)">Accéder au service</a>', done.text)
    callback = rp.follow_to_callback(client.get(html.unescape(onward.group(1))))
    assert rp.token(callback["code"]).status_code == 200
