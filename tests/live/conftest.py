"""A live provider for black-box tests: the `idp` CLI prepares a temporary SQLite
database, gunicorn serves it as a separate process over TLS on 127.0.0.1, and the
tests talk to it only over HTTP, as an independent relying party (pyoidc) with a
`requests` session as the person's browser.

Why TLS: OpenID Connect Discovery requires an https issuer and pyoidc's
ProviderConfigurationResponse.verify() refuses anything else ("Not HTTPS"). A
throw-away CA and a certificate for 127.0.0.1 are made with `cryptography` for
each run; every client here trusts that CA file, and nothing else.

Nothing in this directory imports the application: the in-process fixtures of
tests/conftest.py are not used (its autouse `_clean` is overridden below).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
IDP = str(VENV_BIN / "idp") if (VENV_BIN / "idp").exists() else str(ROOT / ".venv/bin/idp")

IDENTIFIER = "p.live"
PASSWORD = "Colline-Verte-Pass-2026"
SCOPE = "openid profile email offline_access"
STARTUP_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def _clean():
    """Override tests/conftest.py's autouse fixture: no in-process app here."""
    yield


# -- TLS ----------------------------------------------------------------------------------


def _make_tls(directory: Path) -> tuple[str, str, str]:
    """Create a CA and a server certificate for 127.0.0.1; return (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp live tests CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    cert_path = directory / "server.pem"
    key_path = directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return str(ca_path), str(cert_path), str(key_path)


# -- the relying party's own HTTP endpoint (back-channel logout receiver) -----------------


@dataclass
class Received:
    """One request the relying party's endpoint received."""

    method: str
    path: str
    headers: dict
    body: bytes

    def form(self) -> dict:
        """The body as a single-valued form."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("ascii")).items()}


class RPEndpoint:
    """A tiny HTTP server on 127.0.0.1 that records what the provider sends it."""

    def __init__(self):
        self.requests: list[Received] = []
        self._cond = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with endpoint._cond:
                    endpoint.requests.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                    endpoint._cond.notify_all()
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = _record  # noqa: N815
            do_POST = _record  # noqa: N815

            def log_message(self, format, *args):  # noqa: A002 - quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, method: str, path: str, after: int = 0, timeout: float = 10.0):
        """Return the requests to (method, path) received after index `after`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.requests[after:] if r.method == method
                         and urlsplit(r.path).path == path]
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def close(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


# -- the provider process --------------------------------------------------------------


@dataclass
class LiveProvider:
    """What the tests know about the running provider and their registration."""

    issuer: str
    ca_file: str
    # token_endpoint_auth_method -> (client_id, client_secret); the provider accepts
    # only the method a client registered, so there is one client per method.
    clients: dict[str, tuple[str, str]]
    rp: RPEndpoint
    log_path: Path
    identifier: str = IDENTIFIER
    password: str = PASSWORD
    scope: str = SCOPE

    @property
    def client_id(self) -> str:
        """The client_secret_basic registration's id."""
        return self.clients["client_secret_basic"][0]

    @property
    def redirect_uri(self) -> str:
        return f"{self.rp.base}/cb"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.rp.base}/bye"

    @property
    def backchannel_uri(self) -> str:
        return f"{self.rp.base}/bcl"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], env: dict, cwd: Path) -> str:
    result = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def _wait_healthy(issuer: str, ca_file: str, proc: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    session = requests.Session()
    session.trust_env = False
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        try:
            response = session.get(f"{issuer}/healthz", verify=ca_file, timeout=2)
            if response.status_code == 200 and response.json().get("status") == "ok":
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"provider not healthy after {STARTUP_TIMEOUT}s ({last}):\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="session")
def live_provider(tmp_path_factory):
    """Migrate, register the client and the account with the CLI, serve with gunicorn."""
    # Requests to 127.0.0.1 never go through a proxy (pyoidc's key fetcher uses the
    # environment's proxy settings).
    saved_no_proxy = {k: os.environ.get(k) for k in ("NO_PROXY", "no_proxy")}
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

    tmp = tmp_path_factory.mktemp("live")
    ca_file, cert_file, key_file = _make_tls(tmp)
    rp = RPEndpoint()
    port = _free_port()
    issuer = f"https://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDP_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY")}
    env.update({
        "IDP_ENV": "testing",
        "IDP_ISSUER": issuer,
        "IDP_DATABASE_URL": f"sqlite:///{tmp / 'idp.sqlite3'}",
        "IDP_SECRET_KEY": secrets.token_urlsafe(48),
        "IDP_VAR_DIR": str(tmp / "var"),
        "IDP_PAIRWISE_SALT": "x",
        "IDP_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    log_path = tmp / "server.log"
    proc = None
    try:
        _run([IDP, "db", "upgrade"], env, ROOT)
        # Create the signing keys before the workers start, as production does: each
        # gunicorn worker otherwise runs keys.ensure() at import, concurrently, and on an
        # empty table both insert an "active" RS256 key (two active keys per algorithm).
        _run([IDP, "keys", "rotate"], env, ROOT)
        clients = {}
        for method in ("client_secret_basic", "client_secret_post"):
            registration = json.loads(_run([
                IDP, "--json", "clients", "add", "--name", f"Live RP ({method})",
                "--redirect-uri", f"{rp.base}/cb",
                "--post-logout-redirect-uri", f"{rp.base}/bye",
                "--backchannel-logout-uri", f"{rp.base}/bcl",
                "--scope", SCOPE, "--auth-method", method,
            ], env, ROOT))
            clients[method] = (registration["client_id"], registration["client_secret"])
        _run([IDP, "accounts", "create", "--identifier", IDENTIFIER, "--password", PASSWORD,
              "--given-name", "Paul", "--family-name", "LIVE", "--email", "paul@example.org"],
             env, ROOT)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "gunicorn", "idp.wsgi:app",
                 "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--certfile", cert_file, "--keyfile", key_file,
                 "--graceful-timeout", "3", "--error-logfile", "-",
                 # No control socket under ~/.gunicorn, shared by concurrent runs.
                 "--no-control-socket"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_healthy(issuer, ca_file, proc, log_path)
        yield LiveProvider(
            issuer=issuer, ca_file=ca_file, clients=clients, rp=rp, log_path=log_path,
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        rp.close()
        for key, value in saved_no_proxy.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- the person's browser ----------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collect the forms of a page: action and named inputs with their values."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


class Browser:
    """A cookie-keeping HTTP user agent that follows redirects one by one and fills the
    hosted login form, stopping when a redirect leaves for the relying party."""

    def __init__(self, live: LiveProvider):
        self.live = live
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = live.ca_file
        self.visited: list[str] = []

    def get(self, url: str) -> requests.Response:
        self.visited.append(url)
        return self.session.get(url, allow_redirects=False, timeout=10)

    def login_form(self, page: requests.Response) -> tuple[str, dict]:
        """The login form's absolute action and fields, filled with the credentials."""
        parser = _FormParser()
        parser.feed(page.text)
        forms = [f for f in parser.forms if "password" in f["fields"]]
        assert forms, f"no login form on {page.url}:\n{page.text[:500]}"
        form = forms[0]
        assert form["fields"].get("csrf_token"), "login form without CSRF token"
        assert form["fields"].get("flow"), "login form without flow"
        fields = dict(form["fields"], identifier=self.live.identifier,
                      password=self.live.password)
        return urljoin(page.url, form["action"] or page.url), fields

    def navigate(self, url: str, max_steps: int = 10) -> str:
        """Go to url, log in if asked, and return the URL that leaves for the RP."""
        response = self.get(url)
        for _ in range(max_steps):
            if response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(response.url, response.headers["Location"])
                if location.startswith(self.live.rp.base + "/"):
                    self.visited.append(location)
                    return location
                assert location.startswith(self.live.issuer + "/"), location
                response = self.get(location)
                continue
            if response.status_code == 200 and urlsplit(response.url).path == "/login":
                action, fields = self.login_form(response)
                self.visited.append(action)
                response = self.session.post(action, data=fields, allow_redirects=False,
                                             timeout=10)
                assert response.status_code in (302, 303), (
                    f"login failed: HTTP {response.status_code}\n{response.text[:800]}"
                )
                continue
            raise AssertionError(
                f"unexpected HTTP {response.status_code} at {response.url}:\n"
                f"{response.text[:800]}\n--- server log ---\n{self.live.log_tail()}"
            )
        raise AssertionError(f"too many steps: {self.visited}")

    def saw_login_page(self) -> bool:
        """Whether the login page was shown since the last reset."""
        return any(urlsplit(u).path == "/login" for u in self.visited)


@pytest.fixture
def browser(live_provider):
    """A fresh browser (no cookies)."""
    b = Browser(live_provider)
    yield b
    b.session.close()
