"""The `idp` command line: database, server, clients, keys, accounts, demo."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
from pathlib import Path

import click
from flask_migrate import upgrade as alembic_upgrade
from werkzeug.serving import WSGIRequestHandler

from idp import demo
from idp.admin import cli as admin_cli
from idp.app import create_app
from idp.config import ConfigError
from idp.directory import cli as directory_cli
from idp.directory import identifiers
from idp.extensions import db
from idp.models import Client
from idp.runtime import server_environ
from idp.services import accounts
from idp.services import clients
from idp.services import purge


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
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from exc
        return self._app

    def out(self, data, text: str | None = None):
        """Print JSON with --json, else the human text."""
        if self.as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            click.echo(text if text is not None else data)


pass_ctx = click.make_pass_decorator(Context)


@click.group()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.pass_context
def main(click_ctx, as_json):
    """Operate the identity provider."""
    click_ctx.obj = Context(as_json)


def check_runtime(app) -> None:
    """Refuse to serve without what production needs (signing keys in the database)."""
    with app.app_context():
        keys = app.extensions["idp"].keys
        if app.config["ENV"] == "production":
            if not keys.has_active_keys():
                raise ConfigError(
                    "signing keys: none active in the database; run 'idp keys rotate'"
                )
        else:
            keys.ensure()


# -- database ---------------------------------------------------------------------------


@main.group("db")
def db_group():
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx, revision):
    """Apply the migrations up to a revision."""
    with ctx.app.app_context():
        alembic_upgrade(revision=revision)
    ctx.out({"upgraded": revision}, f"Database upgraded to {revision}.")


# -- servers ----------------------------------------------------------------------------


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@pass_ctx
def run(ctx, host, port):
    """Development server (never in production)."""
    app = ctx.app
    check_runtime(app)
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True,
            request_handler=DevRequestHandler)


class DevRequestHandler(WSGIRequestHandler):
    """The development server's request log, without query strings: they carry codes,
    states and ID tokens (id_token_hint), as gunicorn's access log format avoids too."""

    def log_request(self, code="-", size="-"):
        """Log the request line with its path only."""
        path = getattr(self, "path", None)
        if path is None:
            # A request line that could not be parsed: log only that it was bad.
            self.log("info", '"%s" %s %s', "(unparsable request line)", code, size)
            return
        self.path = path.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = path


@main.command("serve")
@click.option("--bind", default=None, help="Address, default from config serve_bind.")
@click.option("--workers", type=int, default=None, help="Default from config serve_workers.")
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
        "--workers", str(workers or app.config["SERVE_WORKERS"]),
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
        with open(jwks_file) as fh:
            jwks = json.load(fh)
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
@pass_ctx
def keys_rotate(ctx, alg):
    """Promote the published next key, retire the active one, publish a new next."""
    with ctx.app.app_context():
        data = ctx.app.extensions["idp"].keys.rotate(alg)
        ctx.out(data, "\n".join(f"{r['alg']}: now signing with {r['active']}" for r in data))


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
    if password is None:
        password = getpass.getpass("Mot de passe : ")
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
@click.option("--batch-size", default=5000, show_default=True)
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
    """Load demo accounts and the sample client."""
    with ctx.app.app_context():
        result = demo.load(ctx.app, if_empty=if_empty)
        ctx.out(result, demo.describe(result))


admin_cli.register(main, accounts_group)
main.add_command(directory_cli.directory)

if __name__ == "__main__":  # pragma: no cover
    main()

