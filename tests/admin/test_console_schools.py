"""The console's school pages: scoping to the administrator's UAIs, statistics, lists
with filters, notices, reset (and its warning when it voids another school's notice),
unlock and the refused-child reports."""

import html
import re
from datetime import timedelta

from sqlalchemy import select

from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.models import SsoSession
from idp.models.base import utcnow
from tests.admin.conftest import COLLEGE
from tests.admin.conftest import LYCEE
from tests.admin.conftest import PASSWORD
from tests.admin.test_distribution import _parent_of_two_schools


def printed(page_text: str) -> dict[str, str]:
    """Identifier -> provisional password, as printed on each notice of a page."""
    pairs = re.findall(
        r'<dt>Identifiant</dt>\s*<dd class="notice__code">([^<]+)</dd>\s*'
        r'<dt>Mot de passe provisoire</dt>\s*<dd class="notice__code">([^<]+)</dd>',
        page_text,
    )
    return dict(pairs)


def verifies(app, account_id, password) -> bool:
    with app.app_context():
        account = db.session.get(Account, account_id)
        return app.extensions["idp"].passwords.verify(account.password_hash, password)


def test_an_administrator_sees_only_the_schools_of_their_scope(client, directory, logged_in):
    directory.school(COLLEGE, "Collège Jean Moulin")
    directory.school(LYCEE, "Lycée Victor Hugo")
    logged_in(COLLEGE)
    index = client.get("/admin/")
    assert "Collège Jean Moulin" in index.text and "Lycée Victor Hugo" not in index.text
    assert client.get(f"/admin/etablissement/{COLLEGE}").status_code == 200
    for path in (f"/admin/etablissement/{LYCEE}", f"/admin/etablissement/{LYCEE}/signalements"):
        refused = client.get(path)
        assert refused.status_code == 403 and "Accès refusé" in refused.text


def test_actions_on_another_school_are_refused_and_change_nothing(app, console, directory,
                                                                  logged_in):
    lycee = directory.school(LYCEE, "Lycée Victor Hugo")
    pupil = directory.pupil(lycee, state="provisional")
    directory.school(COLLEGE)
    logged_in(COLLEGE)
    before = directory.account(pupil.account_id).password_hash
    assert console.post(f"/admin/etablissement/{LYCEE}/reinitialisation",
                        account=pupil.public_id).status_code == 403
    assert console.post(f"/admin/etablissement/{LYCEE}/notifications",
                        classe="3A", role="tous").status_code == 403
    # Nor through the administrator's own school: the pupil is not one of its pupils.
    wrong = console.post(f"/admin/etablissement/{COLLEGE}/reinitialisation",
                         account=pupil.public_id)
    assert wrong.status_code == 400
    assert directory.account(pupil.account_id).password_hash == before
    # Each attempt is on record.
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent.event, AuditEvent.details).order_by(AuditEvent.id)
        ).all()
    assert [e for e, _ in events].count("admin.scope_refused") == 2
    [refused] = [d for e, d in events if e == "admin.reset_refused"]
    assert refused["target"] == pupil.public_id and refused["uai"] == COLLEGE


def _school_with_every_state(directory):
    school = directory.school(COLLEGE, "Collège Jean Moulin")
    active = directory.pupil(school, "Jean", "MARTIN", "3A", state="active")
    notified = directory.pupil(school, "Lina", "BERNARD", "3A", state="provisional")
    never = directory.pupil(school, "Hugo", "PETIT", "3A")
    other = directory.pupil(school, "Emma", "ROUX", "4B")
    directory.pupil(school, "Léo", "PARTI", "4B", left=True)
    directory.parent([active, other], "Paul", "MARTIN", state="active")
    directory.parent([notified], "Sara", "BERNARD", state="provisional")
    directory.parent([never], "Marc", "PETIT")
    return school, {"active": active, "notified": notified, "never": never, "other": other}


def test_statistics_count_accounts_per_state_per_class_and_in_total(app, client, directory,
                                                                    logged_in):
    from idp.admin import roster

    _school_with_every_state(directory)
    with app.app_context():
        stats = roster.statistics(roster.school(COLLEGE)).as_dict()
    assert stats["total"]["pupils"] == {"total": 4, "active": 1, "provisional": 1, "none": 2,
                                        "disabled": 0}
    # Paul MARTIN has a child in 3A and one in 4B: once in each class, once in total.
    assert stats["total"]["parents"] == {"total": 3, "active": 1, "provisional": 1, "none": 1,
                                         "disabled": 0}
    assert stats["classes"]["3A"]["pupils"]["total"] == 3
    assert stats["classes"]["4B"]["pupils"] == {"total": 1, "active": 0, "provisional": 0,
                                                "none": 1, "disabled": 0}
    assert stats["classes"]["4B"]["parents"]["active"] == 1
    logged_in(COLLEGE)
    text = client.get("/admin/").text
    row = re.search(r'<th scope="row">Élèves</th>\s*((?:<td>\d+</td>\s*){5})', text)
    assert re.findall(r"<td>(\d+)</td>", row.group(1)) == ["4", "1", "1", "2", "0"]


def test_the_school_page_lists_people_with_their_state_and_filters(client, directory,
                                                                   logged_in):
    _school_with_every_state(directory)
    logged_in(COLLEGE)
    page = html.unescape(client.get(f"/admin/etablissement/{COLLEGE}").text)
    for name in ("MARTIN Jean", "BERNARD Lina", "PETIT Hugo", "ROUX Emma", "MARTIN Paul"):
        assert name in page, name
    assert "PARTI" not in page  # left the school
    assert "<caption>" in page and 'scope="col"' in page
    in_4b = html.unescape(client.get(f"/admin/etablissement/{COLLEGE}?classe=4B").text)
    assert "ROUX Emma" in in_4b and "PETIT Hugo" not in in_4b
    assert "MARTIN Paul" in in_4b and "BERNARD Sara" not in in_4b
    found = html.unescape(client.get(f"/admin/etablissement/{COLLEGE}?q=bernard").text)
    assert "BERNARD Lina" in found and "BERNARD Sara" in found and "PETIT Hugo" not in found


def test_notices_of_a_class_carry_working_provisional_passwords(app, client, console,
                                                                directory, logged_in):
    _, people = _school_with_every_state(directory)
    logged_in(COLLEGE)
    before = utcnow()
    page = console.post(f"/admin/etablissement/{COLLEGE}/notifications", classe="3A",
                        role="tous")
    assert page.status_code == 200
    notices = printed(page.text)
    # Lina and Hugo, Sara and Marc: one notice each; Jean and Paul are already active.
    assert page.text.count('<article class="notice"') == len(notices) == 4
    assert people["active"].identifier not in notices
    assert "compte déjà activé" in html.unescape(page.text)
    for identifier in (people["notified"].identifier, people["never"].identifier):
        assert identifier in notices
    with app.app_context():
        for identifier, password in notices.items():
            account = db.session.execute(
                db.select(Account).where(Account.identifier == identifier)
            ).scalar_one()
            assert app.extensions["idp"].passwords.verify(account.password_hash, password)
            assert account.status == "provisional"
            validity = account.provisional_expires_at - before
            assert timedelta(days=89, hours=23) < validity < timedelta(days=90, minutes=5)
            assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}",
                                password)
    # Marc PETIT had no account: distributing created it.
    text = html.unescape(page.text)
    assert "Représentant légal : <strong>Marc PETIT</strong>" in text
    assert "Enfant : Hugo PETIT (3A)" in text
    assert "valable jusqu'au " in text and "0 809 54 06 06" in text
    assert "du lundi au vendredi de 8h à 20h et le samedi de 8h à 12h" in text
    assert "/static/css/notices.css" in page.text
    assert "<style" not in page.text and " style=" not in page.text
    css = client.get("/static/css/notices.css").text
    assert "page-break-after: always" in css and "@media print" in css


def test_notices_need_a_class_and_say_so(client, console, directory, logged_in):
    _school_with_every_state(directory)
    logged_in(COLLEGE)
    page = console.post(f"/admin/etablissement/{COLLEGE}/notifications", classe="",
                        role="eleve")
    assert page.status_code == 400
    assert 'href="#notices-classe"' in page.text and "Choisissez la classe" in page.text


def test_reset_shows_a_new_password_once_and_ends_the_sessions(app, client, console,
                                                               directory, logged_in):
    school = directory.school(COLLEGE)
    pupil = directory.pupil(school, "Jean", "MARTIN", "3A", state="active")
    with app.app_context():
        account = db.session.get(Account, pupil.account_id)
        app.extensions["idp"].sessions.create(account, amr=["pwd"], acr="eidas1")
        db.session.commit()
    logged_in(COLLEGE)
    page = console.post(f"/admin/etablissement/{COLLEGE}/reinitialisation",
                        account=pupil.public_id)
    assert page.status_code == 200
    notices = printed(page.text)
    assert list(notices) == [pupil.identifier]
    assert page.text.count('<article class="notice"') == 1
    assert verifies(app, pupil.account_id, notices[pupil.identifier])
    assert not verifies(app, pupil.account_id, PASSWORD)
    with app.app_context():
        sessions = db.session.execute(
            db.select(SsoSession).where(SsoSession.account_id == pupil.account_id)
        ).scalars().all()
        assert sessions and all(s.ended_at is not None for s in sessions)
        assert db.session.get(Account, pupil.account_id).status == "provisional"
    # The password is shown once: the school page does not repeat it.
    assert notices[pupil.identifier] not in client.get(f"/admin/etablissement/{COLLEGE}").text


def test_unlock_clears_a_lock(app, client, console, directory, logged_in):
    school = directory.school(COLLEGE)
    pupil = directory.pupil(school, state="active")
    with app.app_context():
        account = db.session.get(Account, pupil.account_id)
        account.failed_logins, account.locked_until = 7, utcnow() + timedelta(hours=1)
        db.session.commit()
    logged_in(COLLEGE)
    page = html.unescape(client.get(f"/admin/etablissement/{COLLEGE}").text)
    assert "Compte bloqué" in page
    response = console.post(f"/admin/etablissement/{COLLEGE}/deblocage",
                            account=pupil.public_id)
    assert response.status_code == 302
    assert "est débloqué" in html.unescape(client.get(response.headers["Location"]).text)
    account = directory.account(pupil.account_id)
    assert account.locked_until is None and account.failed_logins == 0


def test_the_reports_page_lists_refused_children(app, client, directory, logged_in):
    school = directory.school(COLLEGE)
    child = directory.pupil(school, "Jean", "MARTIN", "3A")
    parent = directory.parent([child], "Paul", "DURAND", state="active")
    directory.refuse(parent, child)
    logged_in(COLLEGE)
    page = html.unescape(client.get(f"/admin/etablissement/{COLLEGE}/signalements").text)
    assert "Signalements (1)" in page
    row = re.search(r"<tr>\s*<td>(\d\d/\d\d/\d{4})</td>\s*<th scope=\"row\">Jean MARTIN</th>"
                    r"\s*<td>3A</td>\s*<td>Paul DURAND</td>\s*<td>([^<]+)</td>", page)
    assert row and row.group(2) == parent.identifier


def test_console_pages_follow_the_strict_content_security_policy(client, directory,
                                                                 logged_in):
    _school_with_every_state(directory)
    logged_in(COLLEGE)
    for path in ("/admin/", f"/admin/etablissement/{COLLEGE}",
                 f"/admin/etablissement/{COLLEGE}/signalements"):
        page = client.get(path)
        assert page.status_code == 200
        assert "<script>" not in page.text and " style=" not in page.text
        assert "<style" not in page.text
        assert re.search(r"<title>[^<]+ - EduConnect</title>", page.text)


def _reset_warning(page_text: str, public_id: str) -> str | None:
    """The text of the warning before a person's reset button, checking that the button
    names it as its description (None if the page has no warning for them)."""
    form = re.search(r'<div class="fr-alert fr-alert--warning[^"]*" id="([^"]+)">\s*'
                     r'<p>(.*?)</p>\s*</div>\s*<form method="post" action="[^"]*/'
                     r'reinitialisation"[^>]*>(?:(?!</form>).)*?'
                     rf'value="{public_id}">\s*<button [^>]*aria-describedby="([^"]+)"',
                     page_text, re.S)
    if form is None:
        # No warning at all for them: their button is described by nothing either.
        button = re.search(rf'value="{public_id}">\s*<button ([^>]*)>', page_text)
        assert button and "aria-describedby" not in button.group(1)
        return None
    assert form.group(1) == form.group(3)
    return html.unescape(form.group(2))


def _switch_administrator(console, logged_in, uai):
    assert console.post("/admin/deconnexion").status_code == 302
    logged_in(uai)


def test_the_reset_button_warns_that_it_voids_another_schools_working_notice(
        app, client, console, directory, logged_in):
    from idp.admin.notices import french_date

    parent = _parent_of_two_schools(directory)
    logged_in(COLLEGE)
    printed_by_college = printed(console.post(f"/admin/etablissement/{COLLEGE}/notifications",
                                              classe="3A", role="responsable").text)
    account_id = directory.parent_account_id(parent.identity_id)
    account = directory.account(account_id)
    [first_password] = printed_by_college.values()
    # The school that printed the notice is not warned about its own notice.
    page = client.get(f"/admin/etablissement/{COLLEGE}").text
    assert _reset_warning(page, account.public_id) is None

    _switch_administrator(console, logged_in, LYCEE)
    page = client.get(f"/admin/etablissement/{LYCEE}").text
    assert _reset_warning(page, account.public_id) == (
        "Attention : un autre établissement a remis à ce compte une notification "
        f"valable jusqu'au {french_date(account.provisional_expires_at)}. Imprimer ici un "
        "nouveau mot de passe provisoire rend cette notification inutilisable : son mot de "
        "passe ne fonctionnera plus.")
    # Only the parent's row: Jean, a pupil of the lycée, has no notice elsewhere.
    assert page.count("fr-alert--warning") == 1

    # The reset stays possible (the parent asked this school for a new notice).
    reset = console.post(f"/admin/etablissement/{LYCEE}/reinitialisation",
                         account=account.public_id)
    assert reset.status_code == 200
    [new_password] = printed(reset.text).values()
    assert verifies(app, account_id, new_password)
    assert not verifies(app, account_id, first_password)
    # The notice now working is the lycée's: the college is warned in its turn.
    page = client.get(f"/admin/etablissement/{LYCEE}").text
    assert _reset_warning(page, account.public_id) is None
    _switch_administrator(console, logged_in, COLLEGE)
    page = client.get(f"/admin/etablissement/{COLLEGE}").text
    assert _reset_warning(page, account.public_id).startswith(
        "Attention : un autre établissement a remis à ce compte une notification "
        "valable jusqu'au ")


def test_no_warning_once_the_other_schools_notice_has_expired(app, client, console,
                                                              directory, logged_in):
    parent = _parent_of_two_schools(directory)
    logged_in(COLLEGE)
    console.post(f"/admin/etablissement/{COLLEGE}/notifications", classe="3A",
                 role="responsable")
    account_id = directory.parent_account_id(parent.identity_id)
    with app.app_context():
        db.session.get(Account, account_id).provisional_expires_at = (
            utcnow() - timedelta(minutes=1))
        db.session.commit()
    _switch_administrator(console, logged_in, LYCEE)
    page = client.get(f"/admin/etablissement/{LYCEE}").text
    assert _reset_warning(page, directory.account(account_id).public_id) is None
    assert "fr-alert--warning" not in page


def test_the_warning_never_names_the_other_school(app, client, directory, logged_in):
    school = directory.school(LYCEE, "Lycée Victor Hugo")
    pupil = directory.pupil(school, "Jean", "MARTIN", "2A", state="provisional")
    with app.app_context():
        account = db.session.get(Account, pupil.account_id)
        # Printed by a school whose pupils are no longer imported (it closed).
        account.provisional_uai = "0830999Z"
        account.provisional_expires_at = utcnow() + timedelta(days=30)
        db.session.commit()
    logged_in(LYCEE)
    page = client.get(f"/admin/etablissement/{LYCEE}").text
    # That the person has a child there is none of this school's business.
    warning = _reset_warning(page, pupil.public_id)
    assert warning.startswith("Attention : un autre établissement a remis à ce compte une "
                              "notification valable jusqu'au ")
    assert "0830999Z" not in page
