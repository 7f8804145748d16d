"""Who may link FranceConnect or log in through it, and how a link is made: parents
only; from the account page with the current password and an identity bearing the
account's names, the parent being told; a FranceConnect-only parent whose identity
changed gets it relinked; a disabled account is told so at once."""

import html

from sqlalchemy import update

from idp.extensions import db
from idp.models import Account
from idp.models import FederatedIdentity
from tests.activation.conftest import submit
from tests.federation.helpers import LINK
from tests.federation.helpers import STEPHANE
from tests.federation.helpers import events
from tests.federation.helpers import identify
from tests.federation.helpers import link
from tests.federation.helpers import links
from tests.federation.helpers import password_login
from tests.federation.helpers import start_link

MOBILE = "+33611223344"


def _set(app, model, row_id, **values):
    with app.app_context():
        db.session.execute(update(model).where(model.id == row_id).values(**values))
        db.session.commit()


def _text(response):
    return html.unescape(response.text)


def test_a_pupil_cannot_start_a_link(fc_app, fc_user, make_account):
    pupil = make_account("e.dupont", role="eleve", **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, pupil)
    page, posted = start_link(user, pupil["password"])
    for response in (page, posted):
        assert response.status_code == 403
        assert "FranceConnect est réservé aux parents" in _text(response)
        assert "Location" not in response.headers
    assert links(fc_app) == []


def test_a_link_is_refused_on_return_when_the_account_is_no_longer_a_parent(
        fc_app, fc_user, make_account):
    parent = make_account("s.dupont", **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, parent)
    _, start = start_link(user, parent["password"])
    callback = user.authenticate_upstream(start.headers["Location"])
    _set(fc_app, Account, parent["id"], role="eleve")
    response = user.back(callback)
    assert response.status_code == 403
    assert "FranceConnect est réservé aux parents" in _text(response)
    assert links(fc_app) == []


def test_an_account_linked_that_is_not_a_parent_cannot_log_in(fc_app, fc_user, make_account):
    parent = make_account("s.dupont", **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, parent)
    assert link(user, parent).headers["Location"].endswith("/compte")
    # A link made before parents only could link (or a role changed since).
    _set(fc_app, Account, parent["id"], role="eleve")
    response = fc_user("testfc1").full_login()
    assert response.status_code == 403
    assert "FranceConnect est réservé aux parents" in _text(response)
    assert "idp_session" not in response.headers.get("Set-Cookie", "")


def test_linking_asks_for_the_current_password(fc_app, fc_user, make_account):
    parent = make_account("s.dupont", **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, parent)
    page, missing = start_link(user, None)
    assert page.status_code == 200 and 'name="current_password"' in page.text
    assert missing.status_code == 422
    assert "Saisissez votre mot de passe actuel." in _text(missing)
    _, wrong = start_link(user, "Not-The-Password-1")
    assert wrong.status_code == 401
    assert "Le mot de passe actuel est incorrect." in _text(wrong)
    assert links(fc_app) == []


def test_an_identity_with_other_names_is_not_linked(fc_app, fc_user, make_account, outbox):
    # Camille MARTIN's session; the FranceConnect identity is Stéphane DUPONT's.
    person = make_account("c.martin", phone_number=MOBILE)
    user = fc_user("testfc1")
    password_login(user, person)
    response = link(user, person)
    assert response.status_code == 403
    assert "ne correspond pas au titulaire de ce compte" in _text(response)
    assert "Aucune identité n'a été liée" in _text(response)
    assert links(fc_app) == [] and outbox.all() == []
    assert [e.details["reason"] for e in events(fc_app, "federation.link_refused")] == ["names"]


def test_a_parent_links_their_own_identity_and_is_told(fc_app, fc_user, make_account, outbox):
    # Claire LEGRAND at FranceConnect uses her usage name, DURAND, on her account.
    parent = make_account("c.durand", given_name="Claire", family_name="DURAND",
                          phone_number=MOBILE)
    user = fc_user("claire")
    password_login(user, parent)
    _, start = start_link(user, parent["password"])
    assert "prompt=login" in start.headers["Location"]
    response = user.back(user.authenticate_upstream(start.headers["Location"]))
    assert response.status_code == 302 and response.headers["Location"].endswith("/compte")
    assert [account for account, _ in links(fc_app)] == [parent["id"]]
    [sms] = [m for m in outbox.all() if m["to"] == MOBILE]
    assert "FranceConnect" in sms["body"] and "c.durand" in sms["body"]
    assert len(events(fc_app, "federation.linked")) == 1
    assert [e.details["channel"] for e in events(fc_app, "federation.link_notified")] == ["sms"]
    assert "Votre identité FranceConnect est liée" in _text(user.browser.get("/compte"))


def test_a_franceconnect_only_parent_whose_identity_changed_gets_it_relinked(
        fc_app, fc_user, family, outbox):
    first = fc_user("claire")
    done = identify(first, first.full_login(), family, outbox)
    assert done.headers["Location"].endswith("/compte")
    [(account_id, subject)] = links(fc_app)
    # FranceConnect gave another `sub` before (its pairwise secret or the identity's
    # civil status changed): the link holds the old one.
    with fc_app.app_context():
        db.session.execute(update(FederatedIdentity).values(subject="0" * 64 + "v1"))
        db.session.commit()
    again = fc_user("claire")
    outbox.clear()
    done = identify(again, again.full_login(), family, outbox)
    assert done.status_code == 302 and done.headers["Location"].endswith("/compte"), \
        _text(done)[:500]
    assert links(fc_app) == [(account_id, subject)]
    assert len(events(fc_app, "federation.relinked")) == 1
    # The account's only way in moved to another identity: its owner is told.
    told = [m for m in outbox.all() if "FranceConnect vient d'être liée" in m["body"]]
    assert [m["to"] for m in told] == [family["e164"]]


def test_a_parent_with_a_password_keeps_their_link_and_is_told_how_to_change_it(
        fc_app, fc_user, family, outbox):
    first = fc_user("claire")
    identify(first, first.full_login(), family, outbox)
    [(account_id, _)] = links(fc_app)
    with fc_app.app_context():
        hashed = fc_app.extensions["idp"].passwords.hash("Correct-Horse-42")
        db.session.execute(update(FederatedIdentity).values(subject="0" * 64 + "v1"))
        db.session.commit()
    _set(fc_app, Account, account_id, password_hash=hashed)
    again = fc_user("claire")
    refused = identify(again, again.full_login(), family, outbox)
    assert refused.status_code == 409
    assert "déliez-la depuis « Mon compte »" in _text(refused)
    assert links(fc_app) == [(account_id, "0" * 64 + "v1")]


def test_a_disabled_account_is_told_at_once(fc_app, fc_user, make_account, outbox):
    parent = make_account("s.dupont", phone_number=MOBILE, **STEPHANE)
    user = fc_user("testfc1")
    password_login(user, parent)
    link(user, parent)
    _set(fc_app, Account, parent["id"], status="disabled")
    outbox.clear()
    response = fc_user("testfc1").full_login()
    assert response.status_code == 403
    assert "Compte désactivé" in _text(response) and "est désactivé" in _text(response)
    assert "Location" not in response.headers
    assert "idp_session" not in response.headers.get("Set-Cookie", "")
    assert outbox.all() == []


def test_a_disabled_parent_met_at_the_identification_gets_no_code(
        fc_app, fc_user, family, outbox):
    first = fc_user("claire")
    identify(first, first.full_login(), family, outbox)
    [(account_id, _)] = links(fc_app)
    with fc_app.app_context():
        db.session.execute(FederatedIdentity.__table__.delete())
        db.session.commit()
    _set(fc_app, Account, account_id, status="disabled")
    outbox.clear()
    again = fc_user("claire")
    refused = submit(again.browser, again.full_login(), {"mobile": family["mobile"]})
    assert refused.status_code == 403 and "Compte désactivé" in _text(refused)
    assert outbox.all() == []


def test_the_link_page_needs_a_session(fc_app, fc_user):
    response = fc_user("testfc1").browser.get(LINK)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
