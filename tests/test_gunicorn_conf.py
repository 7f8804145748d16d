"""The access log of `idp serve` (idp/gunicorn_conf.py): paths are logged without the
secrets that some of them carry (the links of password-reset and e-mail-confirmation
messages), and without query strings; every other path is logged as it was."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from flask import Flask
from flask import url_for
from gunicorn import glogging
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from idp import gunicorn_conf
from idp.gunicorn_conf import REDACTED
from idp.gunicorn_conf import AccessLogger
from idp.gunicorn_conf import PathRedactor
from idp.services.secrets import new_token

ROOT = Path(__file__).resolve().parents[1]

# Every route with a secret in its path, and how it shows in the access log.
SECRET_ROUTES = {
    "/activation/courriel/<token>": ("activation.confirm_email", "/activation/courriel/"),
    "/recuperation/mot-de-passe/lien/<token>": ("recovery.password_link",
                                                "/recuperation/mot-de-passe/lien/"),
}


def _config(**settings) -> Config:
    """gunicorn's configuration loaded from idp.gunicorn_conf, as `--config` loads it."""
    cfg = Config()
    for name, value in vars(gunicorn_conf).items():
        if name in cfg.settings:
            cfg.set(name, value)
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


class AccessLog:
    """The project's logger, fed requests parsed by gunicorn's own HTTP parser."""

    def __init__(self, path: Path, wsgi_app):
        self.path = path
        self.cfg = _config(accesslog=str(path))
        self.logger = self.cfg.logger_class(self.cfg)
        gunicorn_conf.post_worker_init(SimpleNamespace(wsgi=wsgi_app, log=self.logger))

    def request(self, raw: str, headers: tuple = ()):
        """(req, resp, environ) for a raw request, as a gunicorn worker has them, with a
        response that has these headers too."""
        parser = RequestParser(self.cfg, iter([raw.encode("latin-1")]), ("192.0.2.7", 50000))
        req = next(parser)
        sock, other = socket.socketpair()
        sock.close()
        other.close()
        resp, environ = wsgi.create(req, sock, ("192.0.2.7", 50000), ("127.0.0.1", 8000),
                                    self.cfg)
        resp.start_response("200 OK", [("Content-Type", "text/html"),
                                       ("Content-Length", "1234"), *headers])
        resp.sent = 1234
        return req, resp, environ

    def line(self, target: str, method: str = "GET", headers: tuple = ()) -> str:
        """The access log line of a request for this target (path and query string)."""
        req, resp, environ = self.request(
            f"{method} {target} HTTP/1.1\r\nHost: idp.example\r\nUser-Agent: Firefox\r\n\r\n",
            headers)
        self.logger.access(resp, req, environ, timedelta(microseconds=4321))
        return self.path.read_text(encoding="utf-8").splitlines()[-1]

    def unredacted_line(self, target: str, method: str = "GET") -> str:
        """The line gunicorn's own logger would write with this format."""
        req, resp, environ = self.request(
            f"{method} {target} HTTP/1.1\r\nHost: idp.example\r\nUser-Agent: Firefox\r\n\r\n")
        atoms = glogging.Logger.atoms(self.logger, resp, req, environ,
                                      timedelta(microseconds=4321))
        return self.cfg.access_log_format % glogging.SafeAtoms(atoms)

    def close(self):
        for handler in list(self.logger.access_log.handlers):
            self.logger.access_log.removeHandler(handler)
            handler.close()


@pytest.fixture
def access_log(app, tmp_path, monkeypatch):
    """The access log in plain text (log_json off, whatever the environment says)."""
    monkeypatch.setenv("IDP_LOG_JSON", "false")
    log = AccessLog(tmp_path / "access.log", app)
    assert not log.logger.json_lines
    yield log
    log.close()


@pytest.fixture
def json_access_log(app, tmp_path, monkeypatch):
    """The access log of `idp serve` with log_json = true (in the configuration that both
    gunicorn's master and the preloaded application read)."""
    monkeypatch.setenv("IDP_LOG_JSON", "true")
    worker_app = SimpleNamespace(url_map=app.url_map, config={"LOG_JSON": True})
    log = AccessLog(tmp_path / "access.log", worker_app)
    assert log.logger.json_lines
    yield log
    log.close()


def _link(app, endpoint: str, token: str) -> str:
    with app.test_request_context():
        return url_for(endpoint, token=token)


def test_idp_serve_logs_through_the_redacting_logger(access_log):
    assert isinstance(access_log.logger, AccessLogger)
    assert isinstance(access_log.logger.redactor, PathRedactor)


def test_the_routes_with_a_secret_in_their_path_are_the_two_links(app):
    """Every path variable not declared public is redacted; this is what that gives today.
    A new route with a variable lands here: declare it public or keep it redacted."""
    assert sorted(PathRedactor(app.url_map).secret_rules) == sorted(SECRET_ROUTES)


@pytest.mark.parametrize("rule", sorted(SECRET_ROUTES))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_link_is_logged_without_its_token(app, access_log, rule, method):
    endpoint, prefix = SECRET_ROUTES[rule]
    token = new_token(24)
    path = _link(app, endpoint, token)
    line = access_log.line(path, method)
    assert token not in line
    assert f'"{method} {prefix}{REDACTED} HTTP/1.1" 200 1234 0.004321 "Firefox"' in line
    # Nothing else in the line changes.
    assert line == access_log.unredacted_line(path, method).replace(path, prefix + REDACTED)


@pytest.mark.parametrize("rule", sorted(SECRET_ROUTES))
@pytest.mark.parametrize("variant", [
    "{path}/",  # a trailing slash
    "{path}/suite",  # an extra segment
    "{path}%2Fsuite",  # an encoded slash
    "//{path_without_slash}",  # doubled slashes, which Flask redirects
    "{path}?utm_source=courriel",  # a query string
])
def test_a_mangled_link_is_logged_without_its_token(app, access_log, rule, variant):
    endpoint, prefix = SECRET_ROUTES[rule]
    token = new_token(24)
    path = _link(app, endpoint, token)
    line = access_log.line(variant.format(path=path, path_without_slash=path.lstrip("/")))
    assert token not in line
    assert f'"GET {prefix}{REDACTED} HTTP/1.1"' in line


def test_a_link_with_any_method_is_redacted(app, access_log):
    token = new_token(24)
    line = access_log.line(_link(app, "recovery.password_link", token), "DELETE")
    assert token not in line
    assert '"DELETE /recuperation/mot-de-passe/lien/[redacted] HTTP/1.1"' in line


def test_a_non_ascii_token_is_redacted(access_log):
    line = access_log.line("/activation/courriel/%C3%A9l%C3%A8ve-secret")
    assert "secret" not in line
    assert "/activation/courriel/[redacted]" in line


@pytest.mark.parametrize("path", [
    "/",
    "/aide",
    "/login",
    "/recuperation/mot-de-passe/eleve/envoye",
    "/recuperation/mot-de-passe/lien",  # no token
    "/admin/etablissement/0750001A",  # a school's public number
    "/admin/etablissement/0750001A/signalements",
    "/compte/enfants/42/mot-de-passe",  # a row number
    "/static/dsfr/dsfr.min.css",
    "/page/inconnue/abc",
])
def test_an_ordinary_path_is_logged_unchanged(access_log, path):
    line = access_log.line(path)
    assert f'"GET {path} HTTP/1.1" 200 1234 0.004321 "Firefox"' in line
    assert line == access_log.unredacted_line(path)


@pytest.mark.parametrize("target", [
    "/authorize?client_id=svc&state=STATE-SECRET&id_token_hint=eyJ.SECRET",
    "/federation/franceconnect/retour?code=CODE-SECRET&state=STATE-SECRET",
    "/logout?id_token_hint=eyJ.SECRET&post_logout_redirect_uri=https://x.example/",
])
def test_query_strings_stay_out_of_the_log(access_log, target):
    line = access_log.line(target)
    assert "SECRET" not in line
    assert f'"GET {target.split("?")[0]} HTTP/1.1"' in line


def test_other_path_atoms_are_redacted_too(app, access_log):
    """%(r)s, {raw_uri}e and {path_info}e carry the path (and the query string): a format
    that used them would show no secret either."""
    token = new_token(24)
    path = _link(app, "recovery.password_link", token)
    req, resp, environ = access_log.request(f"GET {path}?state=S HTTP/1.1\r\nHost: x\r\n\r\n")
    atoms = access_log.logger.atoms(resp, req, environ, timedelta(seconds=1))
    redacted = "/recuperation/mot-de-passe/lien/[redacted]"
    assert atoms["U"] == atoms["{raw_uri}e"] == atoms["{path_info}e"] == redacted
    assert atoms["r"] == f"GET {redacted} HTTP/1.1"
    assert not [key for key, value in atoms.items() if isinstance(value, str) and token in value]


def test_without_the_routes_no_path_is_logged(app, tmp_path):
    """A worker whose application has no url_map (not the provider) logs no path at all."""
    log = AccessLog(tmp_path / "access.log", wsgi_app=object())
    try:
        assert log.logger.redactor is None
        token = new_token(24)
        line = log.line(_link(app, "recovery.password_link", token))
        assert token not in line
        assert f'"GET {REDACTED} HTTP/1.1"' in line
    finally:
        log.close()


def test_a_new_route_is_redacted_unless_its_variables_are_public():
    """The redaction follows the routes: a route added with a secret is covered at once."""
    other = Flask(__name__)
    for rule in ("/invitation/<code>", "/ecole/<uai>/classe/<int:pupil_id>",
                 "/ecole/<uai>/invitation/<uuid:code>/accepter", "/ecole/<uai>/aide"):
        other.add_url_rule(rule, rule, lambda **_: "")
    redact = PathRedactor(other.url_map)
    assert redact("/invitation/abc") == "/invitation/[redacted]"
    assert redact("/ecole/0750001A/classe/7") == "/ecole/0750001A/classe/7"
    assert redact("/ecole/0750001A/aide") == "/ecole/0750001A/aide"
    code = "8c2b5e1e-2f0a-4c1e-9a53-0b0c8f6d1a11"
    assert redact(f"/ecole/0750001A/invitation/{code}/accepter") \
        == "/ecole/0750001A/invitation/[redacted]/accepter"
    assert redact(f"/ecole/0750001A/invitation/{code}/autre") \
        == "/ecole/0750001A/invitation/[redacted]"


# -- log_json: the access log and gunicorn's own lines are JSON objects --


def test_with_log_json_an_access_line_is_a_json_object_with_the_request_id(app,
                                                                          json_access_log):
    token = new_token(24)
    path = _link(app, "recovery.password_link", token)
    line = json_access_log.line(f"{path}?state=STATE-SECRET", "POST",
                                headers=(("X-Request-ID", "3f2a9c-req"),))
    assert token not in line and "STATE-SECRET" not in line
    entry = json.loads(line)
    assert isinstance(entry.pop("ts"), str) and entry.pop("pid") == os.getpid()
    assert entry == {
        "level": "INFO", "logger": "gunicorn.access",
        "message": "POST /recuperation/mot-de-passe/lien/[redacted] 200",
        "request_id": "3f2a9c-req",
        "remote_addr": "192.0.2.7", "method": "POST",
        "path": "/recuperation/mot-de-passe/lien/[redacted]", "protocol": "HTTP/1.1",
        "status": 200, "bytes": 1234, "duration": 0.004321, "user_agent": "Firefox",
    }


def test_with_log_json_a_response_without_request_id_logs_null(json_access_log):
    """Only the application's answers carry X-Request-ID (gunicorn's own error pages
    do not): the id is never taken from what the client sent."""
    req, resp, environ = json_access_log.request(
        "GET /aide HTTP/1.1\r\nHost: x\r\nX-Request-ID: from-the-client\r\n\r\n")
    json_access_log.logger.access(resp, req, environ, timedelta(seconds=2))
    entry = json.loads(json_access_log.path.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["request_id"] is None
    assert (entry["path"], entry["duration"], entry["user_agent"]) == ("/aide", 2.0, None)


@pytest.mark.parametrize("log_json", [True, False])
def test_gunicorn_own_lines_follow_log_json(tmp_path, monkeypatch, log_json):
    """The master's and workers' lines (start, workers, signals, errors) too."""
    monkeypatch.setenv("IDP_LOG_JSON", str(log_json).lower())
    errors = tmp_path / "errors.log"
    cfg = _config(errorlog=str(errors))
    logger = cfg.logger_class(cfg)
    try:
        logger.info("Listening at: %s (%s)", "http://127.0.0.1:8000", 42)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("Error handling request")
    finally:
        for handler in list(logger.error_log.handlers):
            logger.error_log.removeHandler(handler)
            handler.close()
    lines = errors.read_text(encoding="utf-8").splitlines()
    if not log_json:
        assert "[INFO] Listening at: http://127.0.0.1:8000 (42)" in lines[0]
        assert "[ERROR] Error handling request" in lines[1]
        return
    assert len(lines) == 2
    started, failed = (json.loads(line) for line in lines)
    assert (started["level"], started["logger"], started["message"], started["pid"]) == (
        "INFO", "gunicorn.error", "Listening at: http://127.0.0.1:8000 (42)", os.getpid())
    assert failed["level"] == "ERROR" and "RuntimeError: boom" in failed["exc"]


def test_log_json_is_read_from_the_configuration_idp_serve_runs_with(tmp_path):
    conf = tmp_path / "idp.toml"
    conf.write_text("log_json = true\n", encoding="utf-8")
    assert gunicorn_conf.log_json_configured({"IDP_CONFIG": str(conf)}) is True
    assert gunicorn_conf.log_json_configured(
        {"IDP_CONFIG": str(conf), "IDP_LOG_JSON": "false"}) is False
    assert gunicorn_conf.log_json_configured({}) is False  # the default
    # A configuration that cannot be read: the application's loading reports it.
    assert gunicorn_conf.log_json_configured({"IDP_CONFIG": str(tmp_path / "none")}) is False


def test_a_worker_follows_its_application_log_json(app, tmp_path, monkeypatch):
    monkeypatch.setenv("IDP_LOG_JSON", "false")
    log = AccessLog(tmp_path / "access.log",
                    SimpleNamespace(url_map=app.url_map, config={"LOG_JSON": True}))
    try:
        assert log.logger.json_lines
        assert json.loads(log.line("/aide"))["path"] == "/aide"
    finally:
        log.close()


# -- `idp serve` itself: gunicorn with the project's configuration, on a loopback port --


class _Forms(HTMLParser):
    """The POST forms of a page: action and inputs (name, type, value)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.forms.append({"action": attrs.get("action") or "", "inputs": []})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"].append(attrs)


def _submit(session, url: str, values: dict[str, str], password: str = "") -> requests.Response:
    """Fill the page's POST form that has the given fields (password fields with
    `password`) and send it."""
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text[:500]
    parser = _Forms()
    parser.feed(page.text)
    form = next(f for f in parser.forms
                if set(values) <= {i["name"] for i in f["inputs"]})
    data = {i["name"]: i.get("value") or "" for i in form["inputs"]
            if i.get("type") == "hidden"}
    data.update({i["name"]: password for i in form["inputs"] if i.get("type") == "password"})
    data.update(values)
    return session.post(requests.compat.urljoin(page.url, form["action"] or page.url),
                        data=data, timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _link_in_mail(outbox: Path, to: str, path: str) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in sorted(outbox.glob("*.json")) if outbox.is_dir() else []:
            data = json.loads(message.read_text(encoding="utf-8"))
            found = re.search(rf"https?://\S+{re.escape(path)}[^\s\"<>]+", data["body"])
            if data.get("to") == to and found:
                return found.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no message to {to} with a link to {path}")


@pytest.fixture
def served(tmp_path, request):
    """`idp serve` on a free port of 127.0.0.1 with one worker; yields its base URL, its
    outbox and its access log (gunicorn writes it on standard output). Indirect
    parametrization adds IDP_* variables."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IDP_", "GUNICORN_")) and k.lower() not in ("http_proxy",
                                                                          "https_proxy")}
    env.update({
        "IDP_ENV": "testing", "IDP_ISSUER": base,
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "IDP_SECRET_KEY": secrets.token_urlsafe(48), "IDP_PAIRWISE_SALT": "x",
        "IDP_VAR_DIR": str(tmp_path / "var"), "IDP_ARGON2_MEMORY_KIB": "8192",
        "IDP_LOG_LEVEL": "WARNING",
        # gunicorn's control socket would be under ~/.gunicorn: there is none.
        "HOME": str(tmp_path / "home"),
    })
    env.update(getattr(request, "param", {}))
    idp = [sys.executable, "-m", "idp.cli"]
    for args in (["db", "upgrade"], ["keys", "rotate"],
                 ["accounts", "create", "--identifier", "e.journal", "--role", "eleve",
                  "--password", "Journal-Pass-2026", "--email", "eleve@example.org"]):
        subprocess.run(idp + args, env=env, cwd=ROOT, check=True, capture_output=True,
                       timeout=60)
    access_log, errors = tmp_path / "access.log", tmp_path / "errors.log"
    with access_log.open("wb") as out, errors.open("wb") as err:
        proc = subprocess.Popen(idp + ["serve", "--bind", f"127.0.0.1:{port}",
                                       "--workers", "1"],
                                env=env, cwd=ROOT, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    try:
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, errors.read_text(errors="replace")
            try:
                if session.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, errors.read_text(errors="replace")
            time.sleep(0.1)
        yield SimpleNamespace(base=base, outbox=tmp_path / "var" / "outbox",
                              access_log=access_log, errors=errors, home=tmp_path / "home")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.live
def test_idp_serve_access_log_carries_no_link_token(served):
    base, password = served.base, "Journal-Pass-2026"
    pupil = requests.Session()
    pupil.trust_env = False

    # A forgotten password: the link received by e-mail is opened, the form left there.
    sent = _submit(pupil, f"{base}/recuperation/mot-de-passe/eleve",
                   {"identifier": "e.journal"})
    assert sent.status_code == 200, sent.text[:500]
    reset_link = _link_in_mail(served.outbox, "eleve@example.org",
                               "/recuperation/mot-de-passe/lien/")
    assert pupil.get(reset_link, timeout=10).status_code == 200

    # A new e-mail address: the confirmation link is opened, not confirmed.
    logged_in = _submit(pupil, f"{base}/login", {"identifier": "e.journal"}, password)
    assert logged_in.status_code == 200, logged_in.text[:500]
    changed = _submit(pupil, f"{base}/compte/courriel", {"email": "nouvelle@example.org"},
                      password)
    assert changed.status_code == 200, changed.text[:500]
    confirm_link = _link_in_mail(served.outbox, "nouvelle@example.org",
                                 "/activation/courriel/")
    assert pupil.get(confirm_link, timeout=10).status_code == 200

    # Ordinary pages, a path with a public variable, and a query string with a secret.
    assert pupil.get(f"{base}/aide", timeout=10).status_code == 200
    pupil.get(f"{base}/admin/etablissement/0750001A", timeout=10, allow_redirects=False)
    pupil.get(f"{base}/authorize?client_id=inconnu&state=STATE-SECRET", timeout=10)

    deadline = time.monotonic() + 10
    while '"GET /authorize HTTP/1.1"' not in served.access_log.read_text(errors="replace"):
        assert time.monotonic() < deadline, served.access_log.read_text(errors="replace")
        time.sleep(0.05)
    log = served.access_log.read_text(encoding="utf-8")

    tokens = [link.rsplit("/", 1)[1] for link in (reset_link, confirm_link)]
    assert all(len(token) >= 20 and token not in log for token in tokens)
    assert '"GET /recuperation/mot-de-passe/lien/[redacted] HTTP/1.1" 200 ' in log
    assert '"GET /activation/courriel/[redacted] HTTP/1.1" 200 ' in log
    assert '"GET /aide HTTP/1.1" 200 ' in log
    assert '"POST /recuperation/mot-de-passe/eleve HTTP/1.1" 302 ' in log
    assert '"GET /admin/etablissement/0750001A HTTP/1.1" 302 ' in log
    assert "STATE-SECRET" not in log
    # No control socket: a second `idp serve` on the host cannot take this one's over.
    assert not (served.home / ".gunicorn").exists()


@pytest.mark.live
@pytest.mark.parametrize("served", [{"IDP_LOG_JSON": "true", "IDP_LOG_LEVEL": "INFO"}],
                         indirect=True)
def test_idp_serve_with_log_json_writes_json_lines_with_the_request_id(served):
    """Every line of `idp serve` is a JSON object: the access log (standard output), and
    on standard error gunicorn's lines and the application's. An access line carries the
    request id that the application's lines of the same request carry."""
    browser = requests.Session()
    browser.trust_env = False
    token = new_token(24)
    link = browser.get(f"{served.base}/recuperation/mot-de-passe/lien/{token}",
                       headers={"X-Request-ID": "lb-7f3a"}, timeout=10)
    assert link.headers["X-Request-ID"] == "lb-7f3a"
    page = browser.get(f"{served.base}/aide?state=STATE-SECRET", timeout=10)
    assert page.status_code == 200
    generated = page.headers["X-Request-ID"]

    def access_lines():
        text = served.access_log.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    deadline = time.monotonic() + 10
    while generated not in {e["request_id"] for e in access_lines()}:
        assert time.monotonic() < deadline, served.access_log.read_text()
        time.sleep(0.05)
    by_id = {e["request_id"]: e for e in access_lines()}
    assert token not in served.access_log.read_text(encoding="utf-8")
    assert "STATE-SECRET" not in served.access_log.read_text(encoding="utf-8")
    refused = by_id["lb-7f3a"]
    assert isinstance(refused.pop("ts"), str) and isinstance(refused.pop("pid"), int)
    assert isinstance(refused.pop("duration"), float)
    assert refused == {
        "level": "INFO", "logger": "gunicorn.access",
        "message": f"GET /recuperation/mot-de-passe/lien/{REDACTED} {link.status_code}",
        "request_id": "lb-7f3a", "remote_addr": "127.0.0.1", "method": "GET",
        "path": f"/recuperation/mot-de-passe/lien/{REDACTED}", "protocol": "HTTP/1.1",
        "status": link.status_code, "bytes": len(link.content),
        "user_agent": browser.headers["User-Agent"],
    }
    assert by_id[generated]["path"] == "/aide" and by_id[generated]["status"] == 200

    errors = [json.loads(line) for line in
              served.errors.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert any(e["logger"] == "gunicorn.error" and e["message"].startswith("Starting gunicorn")
               for e in errors)
    assert any(e["logger"] == "gunicorn.error"
               and e["message"].startswith("Booting worker") for e in errors)
    # The application's audit line of the refused link has the access line's id.
    assert any(e["logger"] == "idp.audit" and e["request_id"] == "lb-7f3a" for e in errors)
