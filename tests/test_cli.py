"""The `idp` command line, run as operators run it (JSON output)."""

import json
import os
import subprocess
import sys

import pytest


@pytest.fixture
def idp(tmp_path):
    """Run `idp --json ...` against a fresh SQLite database."""
    env = dict(os.environ, IDP_ENV="testing", IDP_DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
               IDP_SECRET_KEY="c" * 40, IDP_VAR_DIR=str(tmp_path / "var"),
               IDP_ARGON2_MEMORY_KIB="8192")
    env.pop("IDP_TEST_DATABASE_URL", None)

    def run(*args, check=True):
        result = subprocess.run([sys.executable, "-m", "idp.cli", "--json", *args], env=env,
                                capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    run("db", "upgrade")
    run.env = env
    return run


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


def test_keys_rotation_publishes_next_before_use(idp):
    idp("demo", "load")
    before = json.loads(idp("keys", "list").stdout)
    next_rs = [k["kid"] for k in before if k["alg"] == "RS256" and k["state"] == "next"][0]
    rotated = json.loads(idp("keys", "rotate", "--alg", "RS256").stdout)
    assert rotated == [{"alg": "RS256", "active": next_rs}]
    after = {k["kid"]: k["state"] for k in json.loads(idp("keys", "list").stdout)}
    assert after[next_rs] == "active"
    assert "retired" in after.values()


def test_accounts_create_and_demo_load(idp):
    created = json.loads(idp("accounts", "create", "--identifier", "p.ops",
                             "--password", "Ops-Pass-2026").stdout)
    assert created == {"identifier": "p.ops", "role": "responsable"}
    dup = idp("accounts", "create", "--identifier", "p.ops", "--password", "x", check=False)
    assert dup.returncode != 0 and "already taken" in dup.stderr
    skipped = json.loads(idp("demo", "load", "--if-empty").stdout)
    assert skipped["loaded"] is False


def test_development_server_logs_no_query_strings():
    from idp.cli import DevRequestHandler

    handler = object.__new__(DevRequestHandler)
    handler.command, handler.request_version = "GET", "HTTP/1.1"
    handler.path = "/logout?id_token_hint=eyJhbGciOi.secret.sig&state=abc"
    lines = []
    handler.log = lambda level, fmt, *args: lines.append(fmt % args)
    handler.log_request(200, 0)
    assert lines == ['"GET /logout HTTP/1.1" 200 0']
    assert handler.path.endswith("state=abc")  # the request itself is untouched
