"""The `idp` command line: database, server, clients, keys, accounts, demo."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from flask_migrate import upgrade as alembic_upgrade
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError
from werkzeug.serving import WSGIRequestHandler

from idp import demo
from idp.admin import cli as admin_cli
from idp.app import create_app
from idp.cli_checks import check_new_account
from idp.cli_checks import checked_email
from idp.cli_checks import checked_mobile
from idp.cli_checks import password_or_prompt
from idp.config import ConfigError
from idp.directory import cli as directory_cli
from idp.directory import identifiers
from idp.extensions import db
from idp.models import Client
from idp.redaction import REDACTED
from idp.redaction import PathRedactor
from idp.runtime import server_environ
from idp.services import accounts
from idp.services import clients
from idp.services import purge
from idp.services.keys import NEXT_KEY_MIN_AGE
from idp.services.keys import RotationTooEarly


class Context:
    """What every command shares: the app (built lazily) and the output mode."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._app = None

    @property
    def app(self):
        """The application, built on first use."""
        if self._app is None:
            try:
                self._app = create_app()
            except (ConfigError, ValueError, ArgumentError) as exc:
                # ValueError, ArgumentError: values the libraries refuse (a log level,
                # a Redis or database URL they cannot parse).
                raise click.ClickException(f"configuration: {exc}") from None
        return self._app

    @property
    def in_production(self) -> bool:
        """Tell whether the configuration is a production one (env = production)."""
        return self.app.config["ENV"] == "production"

    def out(self, data, text: str | None = None):
        """Print JSON with --json, else the human text."""
        if self.as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            click.echo(text if text is not None else data)


pass_ctx = click.make_pass_decorator(Context)

#: SQLSTATEs (PostgreSQL) of a schema older than the code: a missing table or column.
SCHEMA_SQLSTATES = ("42P01", "42703")
SCHEMA_NOT_UP_TO_DATE = "the database schema is not up to date: run `idp db upgrade`"


def database_problem(exc: DBAPIError) -> str | None:
    """One line for an operator about a database error, or None for a programming error.

    A database that cannot be reached (closed port, unknown database, wrong password)
    or whose schema is older than the code is an operator's matter, said in one line
    with the driver's first line; anything else keeps its traceback.
    """
    cause = exc.orig if exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if getattr(cause, "sqlstate", None) in SCHEMA_SQLSTATES or first.startswith(
            ("no such table", "no such column")):
        return SCHEMA_NOT_UP_TO_DATE
    if exc.connection_invalidated or exc.statement is None:
        return f"database unreachable: {first}"
    if isinstance(exc, OperationalError):
        return f"database error: {first}"
    return None


class IdpGroup(click.Group):
    """The `idp` group: turns the errors every command may meet into one line.

    A configuration refused at start or an unusable database (unreachable, missing,
    not migrated) ends any command with a one-line message and exit status 1, not a
    traceback.
    """

    def invoke(self, ctx):
        """Run the command; say configuration and database problems in one line."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            message = database_problem(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group(cls=IdpGroup)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.pass_context
def main(click_ctx, as_json):
    """Operate the identity provider."""
    click_ctx.obj = Context(as_json)


def check_runtime(app) -> None:
    """Refuse to serve without what serving needs: an active signing key for each
    algorithm (created here outside production), that this node's secret_key opens."""
    with app.app_context():
        keys = app.extensions["idp"].keys
        if app.config["ENV"] != "production":
            keys.ensure()
        keys.check_usable()


def refuse_in_production(ctx: Context, command: str, why: str) -> None:
    """Stop a development-only command when the configuration is a production one."""
    if ctx.in_production:
        raise click.ClickException(f"`{command}` is refused in production (env = "
                                   f"production): {why}")


# -- database ---------------------------------------------------------------------------


@main.group("db")
def db_group():
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx, revision):
    """Apply the migrations up to a revision (never downgrades)."""
    with ctx.app.app_context():
        script = ScriptDirectory.from_config(
            current_app.extensions["migrate"].migrate.get_config())
        try:
            target = script.get_revision(revision)
        except CommandError as exc:
            raise click.ClickException(f"--revision: {exc}") from None
        if target is None:
            raise click.ClickException(f"--revision: {revision} names no revision")
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        try:
            already = [head for head in current
                       if target.revision in _ancestors(script, head)]
        except CommandError as exc:
            raise click.ClickException(
                f"the database is at revision {', '.join(current)}, which this version "
                f"does not know ({exc})") from None
        if already and target.revision not in current:
            raise click.ClickException(
                f"the database is at revision {', '.join(current)}, already past "
                f"{target.revision}: `idp db upgrade` never downgrades; nothing was changed")
        if already:
            ctx.out({"upgraded": revision, "revision": target.revision, "changed": False},
                    f"Database already at {target.revision}: nothing to do.")
            return
        alembic_upgrade(revision=target.revision)
    ctx.out({"upgraded": revision, "revision": target.revision, "changed": True},
            f"Database upgraded to {target.revision}.")


def _ancestors(script: ScriptDirectory, head: str) -> set[str]:
    """A revision and every revision below it."""
    return {r.revision for r in script.walk_revisions(base="base", head=head)}


# -- servers ----------------------------------------------------------------------------


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@pass_ctx
def run(ctx, host, port):
    """Development server (never in production)."""
    refuse_in_production(ctx, "idp run", "it is the development server; use `idp serve`")
    app = ctx.app
    check_runtime(app)
    DevRequestHandler.redactor = PathRedactor(app.url_map)
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True,
            request_handler=DevRequestHandler)


class DevRequestHandler(WSGIRequestHandler):
    """The development server's request log, without query strings: they carry codes,
    states and ID tokens (id_token_hint), nor the secrets of paths (the links of reset
    and confirmation messages), as gunicorn's access log (idp.gunicorn_conf)."""

    redactor: PathRedactor | None = None

    def log_request(self, code="-", size="-"):
        """Log the request line with its path only, its secrets redacted."""
        path = getattr(self, "path", None)
        if path is None:
            # A request line that could not be parsed: log only that it was bad.
            self.log("info", '"%s" %s %s', "(unparsable request line)", code, size)
            return
        bare = path.split("?", 1)[0]
        self.path = self.redactor(bare) if self.redactor is not None else REDACTED
        try:
            super().log_request(code, size)
        finally:
            self.path = path


@main.command("serve")
@click.option("--bind", default=None, help="Address, default from config serve_bind.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Default from config serve_workers.")
@pass_ctx
def serve(ctx, bind, workers):
    """Production server (gunicorn)."""
    app = ctx.app
    check_runtime(app)
    # Every worker writes its metrics here; /metrics aggregates them. Start clean.
    metrics_dir = Path(app.config["VAR_DIR"]).resolve() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    forwarded = "*" if app.config["TRUSTED_PROXIES"] else "127.0.0.1"
    args = [
        sys.executable, "-m", "gunicorn", "idp.wsgi:app",
        "--config", "python:idp.gunicorn_conf",
        "--bind", bind or app.config["SERVE_BIND"],
        "--workers", str(workers if workers is not None else app.config["SERVE_WORKERS"]),
        "--access-logfile", "-", "--forwarded-allow-ips", forwarded,
    ]
    # Replaces this process with gunicorn; glibc reads its tunables at process start.
    os.execve(sys.executable, args, server_environ(os.environ))  # noqa: S606


# -- clients ----------------------------------------------------------------------------


@main.group("clients")
def clients_group():
    """Relying services."""


@clients_group.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--scope", "scopes", multiple=True, help="Repeat or space-separate.")
@click.option("--public", is_flag=True, help="A public client (no secret, PKCE).")
@click.option("--auth-method", default=None,
              type=click.Choice(["client_secret_basic", "client_secret_post",
                                 "private_key_jwt", "none"]))
@click.option("--subject-type", default=None, type=click.Choice(["public", "pairwise"]))
@click.option("--sector-uri", default=None)
@click.option("--id-token-alg", default="RS256", type=click.Choice(["RS256", "ES256"]))
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The client's public JWK set, for private_key_jwt.")
@click.option("--client-id", default=None, help="Choose the client id (default: random).")
@click.option("--introspect-any", is_flag=True,
              help="A resource server: may introspect the tokens of every client "
                   "(default: only its own).")
@pass_ctx
def clients_add(ctx, name, redirect_uris, post_logout, backchannel_logout_uri, scopes, public,
                auth_method, subject_type, sector_uri, id_token_alg, jwks_file, client_id,
                introspect_any):
    """Register a client; prints its id and, once, its secret."""
    scope_list = [s for item in scopes for s in item.split()] or None
    jwks = None
    if jwks_file:
        try:
            with open(jwks_file, encoding="utf-8") as fh:
                jwks = json.load(fh)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise click.ClickException(f"--jwks-file {jwks_file}: not a JSON file: {exc}") \
                from None
    with ctx.app.app_context():
        try:
            client, secret = clients.register(
                name=name, redirect_uris=list(redirect_uris),
                post_logout_redirect_uris=list(post_logout),
                backchannel_logout_uri=backchannel_logout_uri, scopes=scope_list,
                public=public, auth_method=auth_method,
                subject_type=subject_type or ctx.app.config["DEFAULT_SUBJECT_TYPE"],
                sector_uri=sector_uri, id_token_alg=id_token_alg, jwks=jwks,
                introspect_any=introspect_any, client_id=client_id,
            )
        except clients.ClientError as exc:
            raise click.ClickException(str(exc)) from exc
        data = {"client_id": client.client_id, "client_secret": secret}
        text = f"client_id: {client.client_id}"
        if secret:
            text += f"\nclient_secret: {secret}\n(the secret is shown only now)"
        ctx.out(data, text)


@clients_group.command("list")
@pass_ctx
def clients_list(ctx):
    """List the registered clients."""
    with ctx.app.app_context():
        rows = db.session.execute(db.select(Client).order_by(Client.name)).scalars().all()
        data = [clients.describe(c) for c in rows]
        ctx.out(data, "\n".join(
            f"{c['client_id']}  {c['name']}" + ("  [introspect-any]" if c["introspect_any"] else "")
            for c in data) or "(none)")


def _client_or_fail(client_id):
    client = clients.get(client_id)
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    return client


@clients_group.command("show")
@click.argument("client_id")
@pass_ctx
def clients_show(ctx, client_id):
    """Show one client's registration."""
    with ctx.app.app_context():
        data = clients.describe(_client_or_fail(client_id))
        ctx.out(data, json.dumps(data, indent=2, ensure_ascii=False))


@clients_group.command("set")
@click.argument("client_id")
@click.option("--introspect-any/--no-introspect-any", "introspect_any", default=None,
              help="Allow (or forbid) introspecting the tokens of every client, not only "
                   "the client's own.")
@pass_ctx
def clients_set(ctx, client_id, introspect_any):
    """Change options of an existing client's registration."""
    if introspect_any is None:
        raise click.UsageError("nothing to change: give --introspect-any or --no-introspect-any")
    with ctx.app.app_context():
        client = _client_or_fail(client_id)
        try:
            clients.set_introspect_any(client, introspect_any)
        except clients.ClientError as exc:
            raise click.ClickException(str(exc)) from exc
        data = clients.describe(client)
        ctx.out(data, json.dumps(data, indent=2, ensure_ascii=False))


@clients_group.command("remove")
@click.argument("client_id")
@pass_ctx
def clients_remove(ctx, client_id):
    """Delete a client."""
    with ctx.app.app_context():
        clients.remove(_client_or_fail(client_id))
        ctx.out({"removed": client_id}, f"Removed {client_id}.")


@clients_group.command("rotate-secret")
@click.argument("client_id")
@pass_ctx
def clients_rotate(ctx, client_id):
    """Give a client a new secret (printed once)."""
    with ctx.app.app_context():
        try:
            secret = clients.rotate_secret(_client_or_fail(client_id))
        except clients.ClientError as exc:
            raise click.ClickException(str(exc)) from exc
        ctx.out({"client_id": client_id, "client_secret": secret},
                f"client_secret: {secret}\n(the secret is shown only now)")


# -- keys -------------------------------------------------------------------------------


@main.group("keys")
def keys_group():
    """Signing keys."""


@keys_group.command("list")
@pass_ctx
def keys_list(ctx):
    """List the signing keys and their state."""
    with ctx.app.app_context():
        data = ctx.app.extensions["idp"].keys.list()
        ctx.out(data, "\n".join(f"{k['alg']}  {k['state']:8}  {k['kid']}" for k in data)
                or "(none)")


@keys_group.command("rotate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default=None)
@click.option("--force", is_flag=True,
              help="Rotate even if the next key was published less than "
                   f"{NEXT_KEY_MIN_AGE // 60} minutes ago (relying services that cached "
                   "the JWKS before it would meet an unknown kid).")
@pass_ctx
def keys_rotate(ctx, alg, force):
    """Promote the published next key, retire the active one, publish a new next.

    On a database without keys, create the first active and next keys only."""
    with ctx.app.app_context():
        try:
            data = ctx.app.extensions["idp"].keys.rotate(
                alg, min_next_age=0 if force else NEXT_KEY_MIN_AGE)
        except RotationTooEarly as exc:
            raise click.ClickException(f"keys rotate refused: {exc}") from None
        ctx.out(data, "\n".join(
            f"{r['alg']}: created the first keys: signing with {r['active']}, next "
            f"{r['next']} published" if r["created"] else
            f"{r['alg']}: now signing with {r['active']}, next {r['next']} published"
            for r in data))


# -- accounts ---------------------------------------------------------------------------


@main.group("accounts")
def accounts_group():
    """Accounts."""


@accounts_group.command("create")
@click.option("--identifier", required=True)
@click.option("--password", default=None, help="Default: asked on the terminal.")
@click.option("--role", default="responsable",
              type=click.Choice(["eleve", "responsable", "admin", "operator"]))
@click.option("--given-name", default="")
@click.option("--family-name", default="")
@click.option("--email", default=None)
@click.option("--phone", default=None)
@pass_ctx
def accounts_create(ctx, identifier, password, role, given_name, family_name, email, phone):
    """Create an active account with an identifier and a password."""
    password = password_or_prompt(password)
    check_new_account(ctx.app.config, identifier=identifier, password=password,
                      given_name=given_name, family_name=family_name)
    email = checked_email(email)
    phone = checked_mobile(phone)
    with ctx.app.app_context():
        if identifiers.was_issued(accounts.normalise_identifier(identifier)):
            # Generated identifiers are never given again, even after their account went.
            raise click.ClickException(f"identifier: {identifier} is already taken")
        try:
            account = accounts.create(
                ctx.app.extensions["idp"].passwords, identifier=identifier, password=password,
                role=role, given_name=given_name, family_name=family_name, email=email,
                phone_number=phone,
            )
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        ctx.out({"identifier": account.identifier, "role": account.role},
                f"Created {account.identifier}.")


# -- maintenance ------------------------------------------------------------------------


@main.command("purge")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1))
@pass_ctx
def purge_cmd(ctx, batch_size):
    """Remove expired codes, tokens, sessions, flow state and counters, in batches."""
    with ctx.app.app_context():
        removed = purge.purge(batch_size=batch_size)
        ctx.out(removed, "\n".join(f"{k}: {v} removed" for k, v in removed.items()))


# -- demo -------------------------------------------------------------------------------


@main.group("demo")
def demo_group():
    """Demonstration data."""


@demo_group.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when accounts already exist.")
@pass_ctx
def demo_load(ctx, if_empty):
    """Load demo accounts and the sample client (never in production)."""
    refuse_in_production(ctx, "idp demo load",
                         "it creates fictitious people with published passwords")
    with ctx.app.app_context():
        result = demo.load(ctx.app, if_empty=if_empty)
        ctx.out(result, demo.describe(result))


admin_cli.register(main, accounts_group)
main.add_command(directory_cli.directory)

if __name__ == "__main__":  # pragma: no cover
    main()

