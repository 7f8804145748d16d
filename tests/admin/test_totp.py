"""The administrators' TOTP: sealed seeds, a one-step window each side, no replay."""

import time

import pyotp
import pytest

from idp.admin import totp
from idp.extensions import db
from idp.models import Account
from idp.services.sealing import SealError

NOW = 1_800_000_015.0  # 15 s into a step


@pytest.fixture
def admin(ctx, make_admin):
    made = make_admin("0830901D")
    account = db.session.get(Account, made["id"])
    return account, made["seed"]


def code(seed, at):
    return pyotp.TOTP(seed).at(at)


def test_the_seed_is_sealed_at_rest_and_bound_to_the_account(app, admin):
    account, seed = admin
    assert seed not in account.totp_secret_encrypted
    assert totp.seed_of(app.config["SECRET_KEY"], account) == seed
    other = Account(id=account.id + 1, totp_secret_encrypted=account.totp_secret_encrypted)
    with pytest.raises(SealError):
        totp.seed_of(app.config["SECRET_KEY"], other)


def test_the_provisioning_uri_names_the_issuer_and_the_account(admin):
    account, seed = admin
    uri = totp.provisioning_uri(account, seed)
    assert uri.startswith("otpauth://totp/EduConnect:" + account.identifier)
    assert f"secret={seed}" in uri and "issuer=EduConnect" in uri


def test_codes_of_the_neighbouring_steps_are_accepted_and_further_ones_not(app, admin):
    account, seed = admin
    key = app.config["SECRET_KEY"]
    assert not totp.verify(key, account, code(seed, NOW + 60), at=NOW)
    assert not totp.verify(key, account, code(seed, NOW - 60), at=NOW)
    assert totp.verify(key, account, code(seed, NOW - 30), at=NOW)
    assert totp.verify(key, account, code(seed, NOW + 30), at=NOW)


def test_a_code_is_accepted_once_and_never_an_older_one_after_it(app, admin):
    account, seed = admin
    key = app.config["SECRET_KEY"]
    assert totp.verify(key, account, code(seed, NOW), at=NOW)
    assert totp.check(key, account, code(seed, NOW), at=NOW)[0] == "replayed"
    assert not totp.verify(key, account, code(seed, NOW - 30), at=NOW)
    db.session.commit()
    assert db.session.get(Account, account.id).totp_last_step == int(NOW // 30)


def test_of_two_concurrent_uses_of_a_checked_code_only_one_is_accepted(app, admin):
    account, seed = admin
    outcome, step = totp.check(app.config["SECRET_KEY"], account, code(seed, time.time()))
    assert outcome == "ok"
    assert totp.accept(account, step) is True
    assert totp.accept(account, step) is False


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef"])
def test_malformed_codes_are_invalid(app, admin, typed):
    account, _ = admin
    assert totp.check(app.config["SECRET_KEY"], account, typed) == ("invalid", None)


def test_spaces_inside_a_code_are_ignored(app, admin):
    account, seed = admin
    typed = code(seed, NOW)
    assert totp.verify(app.config["SECRET_KEY"], account, f" {typed[:3]} {typed[3:]} ", at=NOW)
