"""Provisional passwords: readable, hashed, 90 days; active accounts keep theirs;
parents get an account once."""

import re
import threading
from datetime import timedelta

import pytest

from idp.admin import distribution
from idp.admin.distribution import ALPHABET
from idp.admin.distribution import DistributionError
from idp.admin.distribution import provisional_password
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account
from idp.models import AuditEvent
from idp.models.base import utcnow
from tests.admin.conftest import COLLEGE
from tests.admin.conftest import LYCEE


def test_provisional_passwords_avoid_look_alike_characters():
    for _ in range(200):
        password = provisional_password()
        assert re.fullmatch(r"[^-]{4}-[^-]{4}-[^-]{4}", password)
        assert set(password.replace("-", "")) <= set(ALPHABET)
    assert not set("0O1lI") & set(ALPHABET)
    assert len({provisional_password() for _ in range(100)}) == 100


def _distribute(app, uai=COLLEGE, **kwargs):
    with app.app_context():
        result = distribution.distribute(app.extensions["idp"], uai, by="test", **kwargs)
        db.session.commit()
        return result


def test_only_the_chosen_role_and_class_are_distributed(app, directory):
    school = directory.school()
    a = directory.pupil(school, "Jean", "MARTIN", "3A")
    b = directory.pupil(school, "Emma", "ROUX", "4B")
    directory.parent([a], "Paul", "MARTIN")
    result = _distribute(app, division="3A", role="eleve")
    assert [n.identifier for n in result.notices] == [a.identifier]
    assert directory.account(b.account_id).password_hash is None
    assert result.summary()["pupils"] == 1 and result.summary()["parents"] == 0


def test_active_accounts_keep_their_password_and_are_listed_as_skipped(app, directory):
    school = directory.school()
    active = directory.pupil(school, state="active")
    before = directory.account(active.account_id).password_hash
    result = _distribute(app)
    assert result.notices == []
    assert [(s.identifier, s.reason) for s in result.skipped] == [
        (active.identifier, "compte déjà activé : il garde son mot de passe")
    ]
    assert directory.account(active.account_id).password_hash == before


def test_a_parent_gets_one_account_however_often_notices_are_printed(app, directory):
    school = directory.school()
    child = directory.pupil(school, "Jean", "MARTIN", "3A")
    parent = directory.parent([child], "Paul", "MARTIN")
    first = _distribute(app, role="responsable")
    account_id = directory.parent_account_id(parent.identity_id)
    assert account_id is not None
    second = _distribute(app, role="responsable")
    assert directory.parent_account_id(parent.identity_id) == account_id
    assert first.notices[0].identifier == second.notices[0].identifier
    assert first.notices[0].password != second.notices[0].password
    account = directory.account(account_id)
    assert (account.role, account.status) == ("responsable", "provisional")
    with app.app_context():
        assert app.extensions["idp"].passwords.verify(account.password_hash,
                                                      second.notices[0].password)
        assert not app.extensions["idp"].passwords.verify(account.password_hash,
                                                          first.notices[0].password)


def test_a_parent_who_refused_every_child_gets_no_notice(app, directory):
    school = directory.school()
    child = directory.pupil(school)
    parent = directory.parent([child], state="provisional")
    directory.refuse(parent, child)
    result = _distribute(app, role="responsable")
    assert result.notices == []
    assert "représentant légal" in result.skipped[0].reason


def test_every_issued_password_is_in_the_audit_trail_without_the_password(app, directory):
    school = directory.school()
    pupil = directory.pupil(school)
    result = _distribute(app)
    with app.app_context():
        events = db.session.execute(
            db.select(AuditEvent).where(AuditEvent.event == "account.provisional_issued")
        ).scalars().all()
        assert [e.account_id for e in events] == [pupil.account_id]
        assert result.notices[0].password not in str(events[0].details)


@pytest.mark.parametrize("kwargs, message", [
    ({"role": "admin"}, "rôle inconnu"),
    ({"division": "6Z"}, "classe 6Z inconnue"),
])
def test_bad_requests_are_refused_with_a_reason(app, directory, kwargs, message):
    directory.school()
    with app.app_context(), pytest.raises(DistributionError, match=message):
        distribution.distribute(app.extensions["idp"], COLLEGE, by="test", **kwargs)


def test_administrator_accounts_are_never_reset_as_provisional(app, make_admin):
    admin = make_admin(COLLEGE)
    with app.app_context():
        account = db.session.get(Account, admin["id"])
        with pytest.raises(DistributionError):
            distribution.reset_provisional(app.extensions["idp"], account, by="test")


def test_a_double_submission_creates_each_parent_account_once(app, directory):
    school = directory.school()
    children = [directory.pupil(school, f"Enfant{i}", f"NOM{i}", "3A") for i in range(3)]
    parents = [directory.parent([c], "Parent", c.identifier.split(".")[1][:4].upper())
               for c in children]
    barrier = threading.Barrier(2)
    results = [None, None]

    def run(i):
        with app.app_context():
            barrier.wait()
            results[i] = distribution.distribute(app.extensions["idp"], COLLEGE, by="test",
                                                 division="3A", role="responsable")
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(len(r.notices) == 3 for r in results)
    with app.app_context():
        accounts = db.session.execute(
            db.select(Account).where(Account.role == "responsable")).scalars().all()
        assert len(accounts) == 3
        owners = {directory.parent_account_id(p.identity_id) for p in parents}
        assert owners == {a.id for a in accounts}


def test_a_parent_of_two_classes_gets_one_notice_naming_both_children(app, directory):
    school = directory.school()
    older = directory.pupil(school, "Jean", "MARTIN", "3A")
    younger = directory.pupil(school, "Zoé", "MARTIN", "6B")
    directory.parent([older, younger], "Paul", "MARTIN")
    in_6b = _distribute(app, division="6B", role="responsable")
    assert in_6b.notices == []
    assert "classe 3A" in in_6b.skipped[0].reason
    in_3a = _distribute(app, division="3A", role="responsable")
    assert [n.children for n in in_3a.notices] == [["Jean MARTIN (3A)", "Zoé MARTIN (6B)"]]


def _parent_of_two_schools(directory):
    college = directory.school(COLLEGE, "Collège Jean Moulin")
    lycee = directory.school(LYCEE, "Lycée Victor Hugo")
    younger = directory.pupil(college, "Zoé", "MARTIN", "3A")
    older = directory.pupil(lycee, "Jean", "MARTIN", "2A")
    return directory.parent([younger, older], "Paul", "MARTIN")


def _verifies(app, account_id, password) -> bool:
    with app.app_context():
        account = db.session.get(Account, account_id)
        return app.extensions["idp"].passwords.verify(account.password_hash, password)


def test_a_parent_of_two_schools_keeps_the_notice_the_first_school_printed(app, directory):
    parent = _parent_of_two_schools(directory)
    first = _distribute(app, COLLEGE, role="responsable")
    [notice] = first.notices
    second = _distribute(app, LYCEE, role="responsable")
    assert second.notices == []
    [skipped] = second.skipped
    assert skipped.identifier == notice.identifier
    assert skipped.reason.startswith(
        "notification déjà remise par un autre établissement, valable jusqu'au ")
    assert "Collège Jean Moulin" not in skipped.reason and COLLEGE not in skipped.reason
    account_id = directory.parent_account_id(parent.identity_id)
    assert directory.account(account_id).provisional_uai == COLLEGE
    assert _verifies(app, account_id, notice.password)
    # The school that printed it may print it again (a lost notice).
    again = _distribute(app, COLLEGE, role="responsable")
    assert [n.identifier for n in again.notices] == [notice.identifier]


def test_the_second_school_prints_its_own_notice_once_the_first_has_expired(app, directory):
    parent = _parent_of_two_schools(directory)
    _distribute(app, COLLEGE, role="responsable")
    account_id = directory.parent_account_id(parent.identity_id)
    with app.app_context():
        db.session.get(Account, account_id).provisional_expires_at = (
            utcnow() - timedelta(minutes=1))
        db.session.commit()
    [notice] = _distribute(app, LYCEE, role="responsable").notices
    assert directory.account(account_id).provisional_uai == LYCEE
    assert _verifies(app, account_id, notice.password)
    with app.app_context():
        details = db.session.execute(
            db.select(AuditEvent.details).where(AuditEvent.event == "account.provisional_issued")
            .order_by(AuditEvent.id)
        ).scalars().all()
        assert [d["uai"] for d in details] == [COLLEGE, LYCEE]


def test_a_reset_by_the_second_school_replaces_the_first_schools_notice(app, directory):
    parent = _parent_of_two_schools(directory)
    [first] = _distribute(app, COLLEGE, role="responsable").notices
    account_id = directory.parent_account_id(parent.identity_id)
    with app.app_context():
        school_row = db.session.execute(
            db.select(School).where(School.uai == LYCEE)).scalar_one()
        notice = distribution.reset_in_school(app.extensions["idp"], school_row,
                                              directory.account(account_id).public_id,
                                              by="test")
        db.session.commit()
    assert directory.account(account_id).provisional_uai == LYCEE
    assert _verifies(app, account_id, notice.password)
    assert not _verifies(app, account_id, first.password)
