"""Checks of what operators type on the command line (`idp accounts create`, `idp admins
create`): the hosted pages' rules for passwords, e-mail addresses, mobiles and schools,
with click errors. Shared by idp.cli and idp.admin.cli (which cannot import idp.cli).
"""

from __future__ import annotations

import getpass

import click

from idp.directory import codes
from idp.directory.models import School
from idp.directory.normalise import mobile_e164
from idp.extensions import db
from idp.recovery.service import valid_email
from idp.services import accounts
from idp.services import password_policy


def password_or_prompt(password: str | None) -> str:
    """The --password given, or one typed twice on the terminal."""
    if password is not None:
        return password
    password = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Confirmation : ") != password:
        raise click.ClickException("the two passwords differ")
    return password


def check_new_account(config, *, identifier: str, password: str, given_name: str = "",
                      family_name: str = "") -> None:
    """Apply the hosted pages' password policy (length, common passwords, names,
    strength) to a password an operator gives; refuse it with the policy's reason."""
    verdict = password_policy.check(
        password, None, min_length=config["PASSWORD_MIN_LENGTH"],
        min_score=config["PASSWORD_MIN_SCORE"],
        personal=[accounts.normalise_identifier(identifier), given_name, family_name],
    )
    if not verdict.ok:
        raise click.ClickException(f"--password: {verdict.error}")


def checked_email(email: str | None) -> str | None:
    """An e-mail address the hosted pages would accept (stored as verified), or None."""
    if email is None:
        return None
    email = email.strip()
    if not valid_email(email):
        raise click.ClickException(f"--email: not a valid e-mail address: {email!r}")
    return email


def checked_mobile(phone: str | None) -> str | None:
    """A mobile number in E.164 form, as the account page takes it, or None."""
    if phone is None:
        return None
    number = mobile_e164(phone)
    if number is None:
        raise click.ClickException(
            f"--phone: not a mobile phone number: {phone!r} (e.g. 06 12 34 56 78 or "
            "+33612345678)")
    return number


def check_school_uais(uais) -> list[str]:
    """The UAIs, each checked and naming a school of the directory."""
    try:
        checked = sorted({codes.check_uai(v) for v in uais})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    known = set(db.session.execute(
        db.select(School.uai).where(School.uai.in_(checked))).scalars())
    for uai in checked:
        if uai not in known:
            raise click.ClickException(
                f"UAI {uai}: no such school in the directory (import its files first)")
    return checked
