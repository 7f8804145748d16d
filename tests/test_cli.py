"""The `idp` command line, run as operators run it (JSON output)."""

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from idp.directory.codes import make_uai
from idp.services.keys import NEXT_KEY_MIN_AGE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"
SIECLE_COLLEGE = [EXAMPLES / "siecle" / "Nomenclature.xml",
                  *sorted((EXAMPLES / "siecle" / "0830901D").glob("*.xml"))]
STRONG = "Correct-Horse-42"


def _environ(**values) -> dict:
    """The process environment without any IDP_ variable, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ARGON2_MEMORY_KIB="8192", **values)
    return env


def _cli(env, *args, as_json=True, check=False, input=None):
    """Run `idp [--json] ARGS` in its own process, as an operator does."""
    command = [sys.executable, "-m", "idp.cli", *(["--json"] if as_json else []), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                            input=input)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def refused(result, message, status=1):
    """The command failed with one clear line (no traceback) containing message."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and message in last, result.stderr
    return last


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sqlite(tmp_path, query, *params):
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture
def idp(tmp_path):
    """Run `idp --json ...` against a fresh SQLite database."""
    env = _environ(IDP_ENV="testing", IDP_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
                   IDP_SECRET_KEY="c" * 40, IDP_VAR_DIR=str(tmp_path / "var"))

    def run(*args, check=True, **options):
        return _cli(env, *args, check=check, **options)

    run("db", "upgrade")
    run.env = env
    return run


def production(tmp_path, database_url: str) -> dict:
    """The environment of a production configuration file like an operator's."""
    config = tmp_path / "idp.toml"
    config.write_text(
        'env = "production"\n'
        'issuer = "https://idp.test.example"\n'
        f'secret_key = "{"p" * 48}"\n'
        'pairwise_salt = "salt-for-the-cli-tests"\n'
        f'database_url = "{database_url}"\n'
        f'var_dir = "{tmp_path / "pvar"}"\n'
    )
    return _environ(IDP_CONFIG=str(config))


@pytest.fixture
def pg_production(tmp_path):
    """A production configuration on an empty PostgreSQL schema (dropped afterwards)."""
    url = os.environ.get("IDP_TEST_DATABASE_URL")
    if not url:
        pytest.skip("production runs on PostgreSQL: set IDP_TEST_DATABASE_URL")
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield production(tmp_path, f"{url}{sep}options=-csearch_path%3D{schema}")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_clients_lifecycle(idp):
    added = json.loads(idp("clients", "add", "--name", "Bourses",
                           "--redirect-uri", "https://bourses.example.gouv.fr/cb",
                           "--redirect-uri", "https://bourses.example.gouv.fr/cb2",
                           "--post-logout-redirect-uri", "https://bourses.example.gouv.fr/",
                           "--backchannel-logout-uri", "https://bourses.example.gouv.fr/bcl",
                           "--scope", "openid profile", "--id-token-alg", "ES256").stdout)
    client_id, secret = added["client_id"], added["client_secret"]
    assert secret
    shown = json.loads(idp("clients", "show", client_id).stdout)
    assert shown["redirect_uris"] == ["https://bourses.example.gouv.fr/cb",
                                      "https://bourses.example.gouv.fr/cb2"]
    assert shown["id_token_signed_response_alg"] == "ES256"
    assert "client_secret" not in shown and secret not in idp("clients", "show", client_id).stdout
    assert [c["client_id"] for c in json.loads(idp("clients", "list").stdout)] == [client_id]
    rotated = json.loads(idp("clients", "rotate-secret", client_id).stdout)
    assert rotated["client_secret"] != secret
    idp("clients", "remove", client_id)
    assert json.loads(idp("clients", "list").stdout) == []


def test_public_client_has_no_secret_and_bad_input_is_a_clear_error(idp):
    public = json.loads(idp("clients", "add", "--name", "App", "--public",
                            "--redirect-uri", "https://app.example.gouv.fr/cb").stdout)
    assert public["client_secret"] is None
    bad = idp("clients", "add", "--name", "X", "--redirect-uri", "http://evil.example/cb",
              check=False)
    assert bad.returncode != 0 and "https" in bad.stderr and "Traceback" not in bad.stderr


def test_introspect_any_is_registered_shown_and_changed(idp):
    ordinary = json.loads(idp("clients", "add", "--name", "Cantine",
                              "--redirect-uri", "https://cantine.example.gouv.fr/cb").stdout)
    api = json.loads(idp("clients", "add", "--name", "API bourses", "--introspect-any",
                         "--redirect-uri", "https://api.example.gouv.fr/cb").stdout)
    assert json.loads(idp("clients", "show", ordinary["client_id"]).stdout)[
        "introspect_any"] is False
    assert json.loads(idp("clients", "show", api["client_id"]).stdout)["introspect_any"] is True
    listed = {c["client_id"]: c["introspect_any"]
              for c in json.loads(idp("clients", "list").stdout)}
    assert listed == {ordinary["client_id"]: False, api["client_id"]: True}
    text = subprocess.run([sys.executable, "-m", "idp.cli", "clients", "list"],
                          env=idp.env, capture_output=True, text=True, timeout=60).stdout
    assert f"{api['client_id']}  API bourses  [introspect-any]" in text
    assert f"{ordinary['client_id']}  Cantine\n" in text + "\n"

    changed = json.loads(idp("clients", "set", ordinary["client_id"], "--introspect-any").stdout)
    assert changed["introspect_any"] is True
    idp("clients", "set", api["client_id"], "--no-introspect-any")
    assert json.loads(idp("clients", "show", api["client_id"]).stdout)["introspect_any"] is False
    nothing = idp("clients", "set", api["client_id"], check=False)
    assert nothing.returncode != 0 and "nothing to change" in nothing.stderr


def test_a_public_client_cannot_be_given_introspect_any(idp):
    refused = idp("clients", "add", "--name", "App", "--public", "--introspect-any",
                  "--redirect-uri", "https://app.example.gouv.fr/cb", check=False)
    assert refused.returncode != 0 and "introspect_any" in refused.stderr
    assert "Traceback" not in refused.stderr
    public = json.loads(idp("clients", "add", "--name", "App", "--public",
                            "--redirect-uri", "https://app.example.gouv.fr/cb").stdout)
    refused = idp("clients", "set", public["client_id"], "--introspect-any", check=False)
    assert refused.returncode != 0 and "public client" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(idp("clients", "show", public["client_id"]).stdout)[
        "introspect_any"] is False


def _age_next_keys(tmp_path, seconds):
    """Pretend the next keys were published `seconds` ago (as if the operator waited)."""
    published = (datetime.now(UTC) - timedelta(seconds=seconds)).strftime(
        "%Y-%m-%d %H:%M:%S.%f")
    _sqlite(tmp_path, "UPDATE signing_keys SET created_at = ? WHERE state = 'next'", published)


def test_keys_rotation_publishes_next_before_use(idp, tmp_path):
    idp("demo", "load")
    before = json.loads(idp("keys", "list").stdout)
    next_rs = [k["kid"] for k in before if k["alg"] == "RS256" and k["state"] == "next"][0]
    _age_next_keys(tmp_path, NEXT_KEY_MIN_AGE + 1)
    rotated = json.loads(idp("keys", "rotate", "--alg", "RS256").stdout)
    assert [(r["alg"], r["active"], r["created"]) for r in rotated] == [
        ("RS256", next_rs, False)]
    after = {k["kid"]: k["state"] for k in json.loads(idp("keys", "list").stdout)}
    assert after[next_rs] == "active" and after[rotated[0]["next"]] == "next"
    assert "retired" in after.values()


def test_the_first_rotation_creates_the_first_keys_and_nothing_else(idp):
    assert json.loads(idp("keys", "list").stdout) == []
    created = json.loads(idp("keys", "rotate").stdout)
    assert [(r["alg"], r["created"]) for r in created] == [("RS256", True), ("ES256", True)]
    listed = json.loads(idp("keys", "list").stdout)
    assert sorted((k["alg"], k["state"]) for k in listed) == [
        ("ES256", "active"), ("ES256", "next"), ("RS256", "active"), ("RS256", "next")]
    assert {k["kid"] for k in listed} == {r[s] for r in created for s in ("active", "next")}


def test_a_rotation_waits_until_relying_services_have_seen_the_next_key(idp, tmp_path):
    idp("keys", "rotate")
    before = json.loads(idp("keys", "list").stdout)
    # Rotating again at once would sign with a kid that JWKS caches have not seen.
    message = refused(idp("keys", "rotate", as_json=False, check=False),
                      "keys rotate refused")
    assert "published less than 10 min ago" in message and "--force" in message
    assert re.search(r"wait (9 min \d+ s|10 min),", message)  # and how long
    assert json.loads(idp("keys", "list").stdout) == before
    _age_next_keys(tmp_path, NEXT_KEY_MIN_AGE - 60)
    message = refused(idp("keys", "rotate", "--alg", "ES256", check=False), "refused")
    assert re.search(r"wait (5\d s|1 min),", message)
    _age_next_keys(tmp_path, NEXT_KEY_MIN_AGE + 1)
    rotated = json.loads(idp("keys", "rotate", "--alg", "ES256").stdout)
    assert rotated[0]["active"] in {k["kid"] for k in before if k["state"] == "next"}
    # The operator may insist (a compromised key).
    refused(idp("keys", "rotate", "--alg", "ES256", check=False), "refused")
    forced = json.loads(idp("keys", "rotate", "--alg", "ES256", "--force").stdout)
    assert forced[0]["active"] == rotated[0]["next"]


def test_keys_list_shows_expired_keys_as_expired(idp, tmp_path):
    idp("keys", "rotate")
    _age_next_keys(tmp_path, NEXT_KEY_MIN_AGE + 1)
    rotated = json.loads(idp("keys", "rotate", "--alg", "RS256").stdout)
    retired = [k["kid"] for k in json.loads(idp("keys", "list").stdout)
               if k["state"] == "retired"]
    assert len(retired) == 1
    _sqlite(tmp_path, "UPDATE signing_keys SET expires_at = ? WHERE kid = ?",
            "2000-01-01 00:00:00.000000", retired[0])
    states = {k["kid"]: k["state"] for k in json.loads(idp("keys", "list").stdout)}
    assert states[retired[0]] == "expired"
    assert states[rotated[0]["active"]] == "active"
    text = idp("keys", "list", as_json=False).stdout
    assert f"RS256  expired   {retired[0]}" in text


def test_accounts_create_and_demo_load(idp):
    created = json.loads(idp("accounts", "create", "--identifier", "p.ops",
                             "--password", "Ops-Pass-2026").stdout)
    assert created == {"identifier": "p.ops", "role": "responsable"}
    dup = idp("accounts", "create", "--identifier", "p.ops", "--password", STRONG,
              check=False)
    assert dup.returncode != 0 and "already taken" in dup.stderr
    skipped = json.loads(idp("demo", "load", "--if-empty").stdout)
    assert skipped["loaded"] is False


def test_development_server_logs_no_query_string_nor_secret_of_a_path(app):
    from idp.cli import DevRequestHandler
    from idp.redaction import PathRedactor

    handler = object.__new__(DevRequestHandler)
    handler.redactor = PathRedactor(app.url_map)
    handler.command, handler.request_version = "GET", "HTTP/1.1"
    lines = []
    handler.log = lambda level, fmt, *args: lines.append(fmt % args)
    for path in ("/logout?id_token_hint=eyJhbGciOi.secret.sig&state=abc",
                 "/recuperation/mot-de-passe/lien/Sx3cr3t-t0ken", "/aide"):
        handler.path = path
        handler.log_request(200, 0)
        assert handler.path == path  # the request itself is untouched
    assert lines == ['"GET /logout HTTP/1.1" 200 0',
                     '"GET /recuperation/mot-de-passe/lien/[redacted] HTTP/1.1" 200 0',
                     '"GET /aide HTTP/1.1" 200 0']


# -- operator mistakes: one clear line, never a traceback -------------------------------


def test_development_commands_are_refused_in_production(tmp_path):
    # Refused from the configuration alone, before any database is touched.
    env = production(tmp_path, f"postgresql://postgres@127.0.0.1:{closed_port()}/idp")
    refused(_cli(env, "demo", "load"), "`idp demo load` is refused in production")
    refused(_cli(env, "demo", "load", "--if-empty"), "refused in production")
    message = refused(_cli(env, "run", "--port", str(closed_port())),
                      "`idp run` is refused in production")
    assert "idp serve" in message


def test_loopback_redirect_uris_are_refused_in_production(tmp_path, idp):
    env = production(tmp_path, f"postgresql://postgres@127.0.0.1:{closed_port()}/idp")
    loopback = "http://127.0.0.1:5399/cb"
    for uris in (["--redirect-uri", loopback],
                 ["--redirect-uri", "https://rp.example.gouv.fr/cb",
                  "--post-logout-redirect-uri", loopback]):
        refused(_cli(env, "clients", "add", "--name", "L", *uris),
                f"must be an https URL in production (http on loopback is for development "
                f"only): {loopback}")
    # Development keeps them (docs/integration.md: loopback http is for development).
    added = json.loads(idp("clients", "add", "--name", "L",
                           "--redirect-uri", "http://127.0.0.1:5399/cb").stdout)
    assert added["client_id"]


def test_serve_without_signing_keys_on_postgresql_prints_only_the_reason(pg_production):
    _cli(pg_production, "db", "upgrade", check=True)
    result = _cli(pg_production, "serve", "--bind", f"127.0.0.1:{closed_port()}")
    assert result.stderr == ("Error: signing keys: none active in the database; run "
                             "'idp keys rotate'\n")
    assert result.returncode == 1


def test_production_keys_and_clients_on_postgresql(pg_production):
    _cli(pg_production, "db", "upgrade", check=True)
    created = json.loads(_cli(pg_production, "keys", "rotate", check=True).stdout)
    assert all(r["created"] for r in created)
    refused(_cli(pg_production, "keys", "rotate"), "keys rotate refused")
    refused(_cli(pg_production, "clients", "add", "--name", "L",
                 "--redirect-uri", "http://127.0.0.1:5399/cb"),
            "must be an https URL in production")
    refused(_cli(pg_production, "demo", "load"), "refused in production")
    added = _cli(pg_production, "clients", "add", "--name", "Bourses",
                 "--redirect-uri", "https://bourses.example.gouv.fr/cb", check=True)
    assert json.loads(added.stdout)["client_secret"]


def test_serve_refuses_a_secret_key_that_cannot_open_the_signing_keys(idp):
    idp("keys", "rotate")
    env = dict(idp.env, IDP_SECRET_KEY="d" * 40)
    for command in (["serve", "--bind", f"127.0.0.1:{closed_port()}"],
                    ["run", "--port", str(closed_port())]):
        result = _cli(env, *command)
        assert result.stderr == ("Error: signing keys cannot be opened with this "
                                 "secret_key: every node needs the same secret_key\n")
        assert result.returncode == 1
        assert "d" * 40 not in result.stdout + result.stderr


def _three_ways_to_miss_the_database(tmp_path):
    """(environment, what the error says) for a closed port, a database that does not
    exist on the local PostgreSQL server, and a database never migrated."""
    base = dict(IDP_ENV="testing", IDP_SECRET_KEY="c" * 40, IDP_VAR_DIR=str(tmp_path / "v"))
    missing = f"idp_cli_missing_{uuid.uuid4().hex[:10]}"  # never created
    return [
        (_environ(IDP_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed_port()}/idp",
                  **base), "database unreachable: connection failed"),
        (_environ(IDP_DATABASE_URL=f"postgresql://postgres@127.0.0.1:5432/{missing}",
                  **base), "database unreachable: "),
        (_environ(IDP_DATABASE_URL=f"sqlite:///{tmp_path}/empty.db", **base),
         "the database schema is not up to date: run `idp db upgrade`"),
    ]


@pytest.mark.parametrize("command", [
    ["clients", "list"],
    ["keys", "rotate"],
    ["serve"],
    ["purge"],
    ["directory", "stats"],
    ["accounts", "create", "--identifier", "p.ops", "--password", STRONG],
    ["admins", "reset-totp", "adm.x"],
])
def test_a_database_out_of_reach_is_one_line_for_every_command(tmp_path, command):
    for number, (env, message) in enumerate(_three_ways_to_miss_the_database(tmp_path)):
        line = refused(_cli(env, *command, as_json=bool(number % 2)), message)
        if "5432/idp_cli_missing_" in env["IDP_DATABASE_URL"]:
            # The driver's first line says why (or that nothing listens there).
            assert "does not exist" in line or "Connection refused" in line


def test_db_upgrade_out_of_reach_and_never_downgrading(idp, tmp_path):
    env, message = _three_ways_to_miss_the_database(tmp_path)[0]
    refused(_cli(env, "db", "upgrade"), message)
    again = json.loads(idp("db", "upgrade").stdout)
    assert again["changed"] is False
    assert "Database already at" in idp("db", "upgrade", as_json=False).stdout
    message = refused(idp("db", "upgrade", "--revision", "0003", check=False),
                      "already past 0003")
    assert "never downgrades" in message
    refused(idp("db", "upgrade", "--revision", "9999", check=False), "--revision:")
    assert _sqlite(tmp_path, "SELECT version_num FROM alembic_version") == [
        (again["revision"],)]


def test_a_partial_upgrade_then_the_rest(tmp_path):
    env = _environ(IDP_ENV="testing", IDP_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
                   IDP_SECRET_KEY="c" * 40, IDP_VAR_DIR=str(tmp_path / "var"))
    first = json.loads(_cli(env, "db", "upgrade", "--revision", "0003", check=True).stdout)
    assert (first["revision"], first["changed"]) == ("0003", True)
    # The accounts table lacks a later column.
    create = ["accounts", "create", "--identifier", "p.ops", "--password", STRONG]
    refused(_cli(env, *create), "the database schema is not up to date: run `idp db upgrade`")
    done = json.loads(_cli(env, "db", "upgrade", check=True).stdout)
    assert done["changed"] is True and done["revision"] != "0003"
    assert json.loads(_cli(env, *create, check=True).stdout)["identifier"] == "p.ops"


def test_numeric_options_out_of_range_are_refused(idp):
    for args in (["purge", "--batch-size", "-5"], ["purge", "--batch-size", "0"],
                 ["serve", "--workers", "0"], ["serve", "--workers", "-2"]):
        refused(idp(*args, check=False), "is not in the range x>=1", status=2)


def test_a_bad_jwks_file_is_a_clear_error(idp, tmp_path):
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, auto_kid=True)
    files = {
        "bad.json": ("{bad", "--jwks-file"),
        "nokeys.json": ('{"keys": []}', "jwks: a JWK set is required"),
        "half.json": ('{"keys": [{"kty": "RSA"}]}', "is not a valid RSA key: 'n' is required"),
        "oct.json": ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "kty must be one of"),
        "private.json": (json.dumps({"keys": [key.as_dict(private=True)]}),
                         "is a private key: register the public keys only"),
    }
    for name, (content, message) in files.items():
        (tmp_path / name).write_text(content)
        refused(idp("clients", "add", "--name", "O", "--auth-method", "private_key_jwt",
                    "--jwks-file", str(tmp_path / name),
                    "--redirect-uri", "https://o.example.gouv.fr/cb", check=False), message)
    (tmp_path / "public.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    added = json.loads(idp("clients", "add", "--name", "O", "--auth-method", "private_key_jwt",
                           "--jwks-file", str(tmp_path / "public.json"),
                           "--redirect-uri", "https://o.example.gouv.fr/cb").stdout)
    assert added["client_secret"] is None
    assert json.loads(idp("clients", "list").stdout)[0]["client_id"] == added["client_id"]


def test_unknown_scopes_are_refused_like_directory_allow(idp):
    for scope in ("openid profil", "schol"):
        refused(idp("clients", "add", "--name", "T", "--scope", scope,
                    "--redirect-uri", "https://t.example.gouv.fr/cb", check=False),
                f"scope: unknown scope {scope.split()[-1]!r}")
    assert json.loads(idp("clients", "list").stdout) == []
    added = json.loads(idp("clients", "add", "--name", "T", "--scope", "openid profile",
                           "--scope", "school children offline_access",
                           "--redirect-uri", "https://t.example.gouv.fr/cb").stdout)
    shown = json.loads(idp("clients", "show", added["client_id"]).stdout)
    assert shown["scopes"] == ["openid", "profile", "school", "children", "offline_access"]


# -- accounts and administrators: the hosted pages' rules --------------------------------


def test_accounts_create_applies_the_password_policy(idp):
    for password, message in [
        ("abc", "--password: Le mot de passe doit contenir au moins"),
        ("password", "trop courant"),
        ("p.weak-2026-p.weak", "ne doit pas contenir votre nom ni votre identifiant"),
        ("aaaaaaaaaaaa", "trop facile à deviner"),
    ]:
        refused(idp("accounts", "create", "--identifier", "p.weak", "--password", password,
                    check=False), message)
    created = idp("accounts", "create", "--identifier", "p.weak", "--password", STRONG)
    assert json.loads(created.stdout)["identifier"] == "p.weak"


def test_accounts_create_stores_only_valid_contacts(idp, tmp_path):
    for option, value, message in [
        ("--phone", "12", "--phone: not a mobile phone number: '12'"),
        ("--phone", "01 23 45 67 89", "not a mobile phone number"),
        ("--email", "notanemail", "--email: not a valid e-mail address: 'notanemail'"),
        ("--email", "a b@example.fr", "not a valid e-mail address"),
    ]:
        refused(idp("accounts", "create", "--identifier", "p.contact", "--password", STRONG,
                    option, value, check=False), message)
    assert _sqlite(tmp_path, "SELECT count(*) FROM accounts") == [(0,)]
    idp("accounts", "create", "--identifier", "p.contact", "--password", STRONG,
        "--phone", "06 12 34 56 78", "--email", "p.contact@example.fr")
    assert _sqlite(tmp_path, "SELECT phone_number, phone_number_verified, email, "
                             "email_verified FROM accounts") == [
        ("+33612345678", 1, "p.contact@example.fr", 1)]


def test_a_password_typed_on_the_terminal_is_asked_twice(idp):
    differ = idp("accounts", "create", "--identifier", "p.typed", check=False,
                 input=f"{STRONG}\n{STRONG}x\n")
    refused(differ, "the two passwords differ")
    weak = idp("accounts", "create", "--identifier", "p.typed", check=False,
               input="abc\nabc\n")
    refused(weak, "Le mot de passe doit contenir au moins")
    typed = idp("accounts", "create", "--identifier", "p.typed", input=f"{STRONG}\n{STRONG}\n")
    assert json.loads(typed.stdout)["identifier"] == "p.typed"


def test_admins_create_needs_a_school_of_the_directory_and_a_strong_password(idp, tmp_path):
    unknown = make_uai("0061904")
    refused(idp("admins", "create", "--identifier", "adm.z", "--uai", unknown,
                "--password", STRONG, check=False),
            f"UAI {unknown}: no such school in the directory")
    refused(idp("admins", "create", "--identifier", "adm.z", "--uai", "0830901X",
                "--password", STRONG, check=False), "wrong key letter")
    idp("directory", "import", "--format", "siecle", *map(str, SIECLE_COLLEGE))
    # Known school, but one of the UAIs given is not.
    refused(idp("admins", "create", "--identifier", "adm.z", "--uai", "0830901D",
                "--uai", unknown, "--password", STRONG, check=False),
            f"UAI {unknown}: no such school in the directory")
    refused(idp("admins", "create", "--identifier", "adm.z", "--uai", "0830901D",
                "--password", "password", check=False), "trop courant")
    refused(idp("admins", "create", "--identifier", "adm.z", "--uai", "0830901D",
                "--password", STRONG, "--email", "notanemail", check=False),
            "not a valid e-mail address")
    assert _sqlite(tmp_path, "SELECT count(*) FROM accounts WHERE role = 'admin'") == [(0,)]
    created = json.loads(idp("admins", "create", "--identifier", "adm.z", "--uai", "0830901d",
                             "--password", STRONG).stdout)
    assert created["uais"] == ["0830901D"] and created["totp_secret"]
    typed = idp("admins", "create", "--identifier", "adm.y", "--uai", "0830901D",
                input=f"{STRONG}\n{STRONG}\n")
    assert json.loads(typed.stdout)["identifier"] == "adm.y"
