"""Commands of school account distribution: `idp accounts distribute|reset` and
`idp admins create|reset-totp`.

Commands receive the `Context` of `idp.cli` through click's `obj` (what `pass_ctx`
passes), without importing `idp.cli`, so that `idp.cli` can import this module.
`register()` attaches them to the `idp` command groups.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from idp.admin import distribution
from idp.admin import notices
from idp.admin import totp
from idp.cli_checks import check_new_account
from idp.cli_checks import check_school_uais
from idp.cli_checks import checked_email
from idp.cli_checks import password_or_prompt
from idp.directory import codes
from idp.extensions import db
from idp.models import AdminScope
from idp.services import accounts
from idp.services import audit

CLI_ACTOR = "cli"


def _write_private(path: Path, text: str) -> Path:
    """Write next to the target with owner-only permissions; return the temporary path.

    The file holds passwords: it is never readable by others, and only replaces the
    target once the passwords in it are committed.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(tmp)


@click.command("distribute")
@click.option("--uai", required=True, help="The school's UAI.")
@click.option("--class", "division", default=None, help="Only this class (division).")
@click.option("--role", type=click.Choice(distribution.ROLES), default=None,
              help="Only pupils (eleve) or only parents (responsable); default both.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The HTML file of notices to print (one per page).")
@click.pass_obj
def distribute_command(ctx, uai, division, role, out):
    """Give provisional passwords to a school's accounts not yet activated, and write
    the printable notices."""
    target = Path(out)
    if not target.parent.is_dir():
        raise click.ClickException(f"--out: no directory {target.parent}")
    with ctx.app.app_context():
        provider = ctx.app.extensions["idp"]
        try:
            uai = codes.check_uai(uai)
            result = distribution.distribute(provider, uai, division=division, role=role,
                                             by=CLI_ACTOR)
        except (ValueError, distribution.DistributionError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        tmp = _write_private(target,
                             notices.standalone_document(result, ctx.app.config["ISSUER"]))
        try:
            db.session.commit()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(target)
        summary = dict(result.summary(), out=str(target))
        text = (f"{summary['notices']} notices written to {target} "
                f"({summary['pupils']} pupils, {summary['parents']} parents).")
        if result.skipped:
            text += f"\n{len(result.skipped)} skipped:"
            text += "".join(f"\n  {s.name} ({s.identifier or '-'}): {s.reason}"
                            for s in result.skipped)
        ctx.out(summary, text)


@click.command("reset")
@click.argument("identifier")
@click.pass_obj
def reset_command(ctx, identifier):
    """Give one pupil or parent account a new provisional password (printed once)."""
    with ctx.app.app_context():
        account = accounts.find(identifier)
        if account is None:
            raise click.ClickException(f"no account {identifier}")
        try:
            password, expires_at = distribution.reset_provisional(
                ctx.app.extensions["idp"], account, by=CLI_ACTOR
            )
        except distribution.DistributionError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        ctx.out(
            {"identifier": account.identifier, "password": password,
             "expires_at": expires_at.isoformat()},
            f"identifier: {account.identifier}\nprovisional password: {password}\n"
            f"valid until: {notices.french_date(expires_at)}\n(shown only now)",
        )


@click.group("admins")
def admins():
    """School account administrators (console at /admin, TOTP second factor)."""


def _enrolment(ctx, account, seed, extra=None) -> None:
    uri = totp.provisioning_uri(account, seed)
    data = {"identifier": account.identifier, "totp_secret": seed, "otpauth_uri": uri,
            **(extra or {})}
    ctx.out(data, "\n".join([
        *(f"{k}: {', '.join(v) if isinstance(v, list) else v}"
          for k, v in (extra or {}).items()),
        f"identifier: {account.identifier}",
        f"TOTP secret (base32): {seed}",
        f"otpauth URI: {uri}",
        "(the secret is shown only now: enter it in the administrator's authenticator "
        "application)",
    ]))


@admins.command("create")
@click.option("--identifier", required=True)
@click.option("--uai", "uais", multiple=True, required=True,
              help="A school the administrator manages (repeat for several).")
@click.option("--password", default=None, help="Default: asked on the terminal.")
@click.option("--given-name", default="")
@click.option("--family-name", default="")
@click.option("--email", default=None)
@click.pass_obj
def admins_create(ctx, identifier, uais, password, given_name, family_name, email):
    """Create an administrator account for schools; print its TOTP secret once."""
    with ctx.app.app_context():
        uai_list = check_school_uais(uais)
    password = password_or_prompt(password)
    check_new_account(ctx.app.config, identifier=identifier, password=password,
                      given_name=given_name, family_name=family_name)
    email = checked_email(email)
    with ctx.app.app_context():
        provider = ctx.app.extensions["idp"]
        try:
            account = accounts.create(
                provider.passwords, identifier=identifier, password=password, role="admin",
                given_name=given_name, family_name=family_name, email=email,
            )
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        for uai in uai_list:
            db.session.add(AdminScope(account_id=account.id, uai=uai))
        audit.record("admin.scopes_granted", account=account, uais=uai_list, by=CLI_ACTOR)
        seed = totp.enroll(ctx.app.config["SECRET_KEY"], account)
        db.session.commit()
        _enrolment(ctx, account, seed, {"uais": uai_list})


@admins.command("reset-totp")
@click.argument("identifier")
@click.pass_obj
def admins_reset_totp(ctx, identifier):
    """Give an administrator a new TOTP secret (lost phone); print it once."""
    with ctx.app.app_context():
        account = accounts.find(identifier)
        if account is None or account.role != "admin":
            raise click.ClickException(f"no administrator account {identifier}")
        seed = totp.enroll(ctx.app.config["SECRET_KEY"], account)
        # Whoever held the old second factor must not stay in the console.
        account.security_stamp = (account.security_stamp or 0) + 1
        ctx.app.extensions["idp"].sessions.end_all(account)
        db.session.commit()
        _enrolment(ctx, account, seed)


def register(main_group: click.Group, accounts_group: click.Group) -> None:
    """Attach `accounts distribute`, `accounts reset` and the `admins` group."""
    accounts_group.add_command(distribute_command)
    accounts_group.add_command(reset_command)
    main_group.add_command(admins)
