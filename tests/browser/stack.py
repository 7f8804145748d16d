"""The provider, the FranceConnect simulator and the demo clients as real processes,
for the browser tests and for `scripts/screenshots.py`.

The `idp` CLI migrates a temporary SQLite database and loads the demo data (the
fictitious school directory of examples/data, with the activated demo family), and
registers each demo client (examples/sample_client) for its own port with
`idp --json clients add` (these commands run in one process, idp_batch.py, to pay
the provider's import once); gunicorn serves the provider on a free port of
127.0.0.1, configured to log in with FranceConnect through the simulator
(examples/franceconnect_sim) on another free port; each demo client is started with
its registration file. Messages (SMS, e-mail) land as JSON files in the outbox, read
by `Stack.messages` and `Stack.sms_code`. Nothing here imports the provider: it is
driven from outside, as in production.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
IDP = str(VENV_BIN / "idp") if (VENV_BIN / "idp").exists() else str(ROOT / ".venv/bin/idp")
STARTUP_TIMEOUT = 30.0

#: The demo people `idp demo load` activates (idp/demo.py, idp/directory/examples.py):
#: Sophie LEGRAND, mother of Jade (collège), Noah (lycée) and Lina (école), and Jade.
PARENT = ("s.legrand1", "Demo-EduConnect-2026")
PUPIL = ("j.legrand1", "Demo-EduConnect-2026")
#: What the demo clients are registered for, within what the provider offers.
WANTED_SCOPES = ["openid", "profile", "email", "phone", "school", "children"]
#: The provider's registration at the FranceConnect simulator (test values).
FC_CLIENT_ID = "idp-browser-tests"
#: What answers once the simulator is up (it has no /healthz).
FC_HEALTH = "/api/v2/.well-known/openid-configuration"


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the test process dies (Linux), so
    that a killed test run leaves no server behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    """A server we started, with its log file."""

    name: str
    base_url: str
    proc: subprocess.Popen
    log_path: Path
    health: str = "/healthz"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """Terminate the process (then kill it if it lingers)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@dataclass
class SampleClient:
    """A running demo client and its registration."""

    name: str
    client_id: str
    process: Process

    @property
    def base_url(self) -> str:
        """Where browsers reach it."""
        return self.process.base_url


@dataclass
class Stack:
    """The provider, the FranceConnect simulator and the demo clients of one session."""

    workdir: Path
    provider: Process | None = None
    franceconnect: Process | None = None
    env: dict = field(default_factory=dict)
    clients: dict[str, SampleClient] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)
    #: Provisional passwords given at start-up (identifier -> password), see start().
    provisional: dict[str, str] = field(default_factory=dict)
    #: Administrators created at start-up (identifier -> TOTP secret), see start().
    admins: dict[str, str] = field(default_factory=dict)
    _port: int = 0

    @property
    def issuer(self) -> str:
        """The provider's issuer (its base URL)."""
        return self.provider.base_url if self.provider else f"http://127.0.0.1:{self._port}"

    @property
    def fc_issuer(self) -> str | None:
        """The FranceConnect simulator's issuer, when it runs."""
        return self.franceconnect.base_url + "/api/v2" if self.franceconnect else None

    @property
    def outbox(self) -> Path:
        """Where the provider writes the SMS and e-mails it sends (one JSON file each)."""
        return Path(self.env["IDP_VAR_DIR"]) / "outbox"

    # -- start-up ------------------------------------------------------------------------

    def prepare(self, franceconnect: bool = True) -> None:
        """Choose the ports, start the FranceConnect simulator (in the background),
        migrate the database and load the demo data."""
        self._port = free_port()
        issuer = self.issuer
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("IDP_", "SAMPLE_CLIENT_"))
               and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        env.update({
            "IDP_ENV": "testing",
            "IDP_ISSUER": issuer,
            "IDP_DATABASE_URL": f"sqlite:///{self.workdir / 'idp.sqlite3'}",
            "IDP_SECRET_KEY": secrets.token_urlsafe(48),
            "IDP_VAR_DIR": str(self.workdir / "var"),
            "IDP_PAIRWISE_SALT": secrets.token_urlsafe(16),
            "IDP_LOG_LEVEL": "WARNING",
            # Every journey logs in from 127.0.0.1: the per-address login limit is
            # tested elsewhere (tests/auth), not here.
            "IDP_RATELIMIT_LOGIN_PER_IP": "1000",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        })
        if franceconnect:
            fc_port = free_port()
            fc_base = f"http://127.0.0.1:{fc_port}"
            fc_secret = secrets.token_urlsafe(24)
            env.update({"IDP_FC_ISSUER": f"{fc_base}/api/v2", "IDP_FC_CLIENT_ID": FC_CLIENT_ID,
                        "IDP_FC_CLIENT_SECRET": fc_secret})
            # A development tool: it gets none of the provider's settings.
            sim_env = {k: v for k, v in env.items() if not k.startswith("IDP_")}
            self.franceconnect = self._spawn(
                "franceconnect", fc_base,
                [sys.executable, "-m", "examples.franceconnect_sim", "--port", str(fc_port),
                 "--issuer", f"{fc_base}/api/v2", "--client-id", FC_CLIENT_ID,
                 f"--client-secret={fc_secret}",  # "=": a secret may start with "-"
                 "--redirect-uri", f"{issuer}/federation/franceconnect/retour",
                 "--post-logout-redirect-uri",
                 f"{issuer}/federation/franceconnect/deconnexion"],
                sim_env, wait=False, health=FC_HEALTH,
            )
        self.env = env

    def load(self) -> None:
        """Migrate the database and load the demo data (which also creates the signing
        keys, before gunicorn's workers fork)."""
        self.idp_batch([["db", "upgrade"], ["demo", "load"]])

    def serve(self) -> None:
        """Serve the provider with gunicorn (the app loaded once, then forked, as in
        production); wait until it and the simulator answer."""
        self.provider = self._spawn(
            "provider", self.issuer,
            [sys.executable, "-m", "gunicorn", "idp.wsgi:app", "--preload",
             "--bind", f"127.0.0.1:{self._port}", "--workers", "2", "--threads", "4",
             "--graceful-timeout", "2", "--error-logfile", "-", "--no-control-socket"],
            self.env,
        )
        if self.franceconnect is not None:
            _wait_healthy(self.franceconnect)
        discovery = requests.get(f"{self.issuer}/.well-known/openid-configuration",
                                 timeout=5).json()
        offered = discovery.get("scopes_supported") or []
        self.scopes = [s for s in WANTED_SCOPES if s in offered]
        missing = sorted(set(WANTED_SCOPES) - set(offered))
        if missing:
            raise RuntimeError(f"the provider does not offer the scopes {missing}")

    def start_provider(self, franceconnect: bool = True) -> None:
        """prepare(), load(), then serve()."""
        self.prepare(franceconnect)
        self.load()
        self.serve()

    @staticmethod
    def client_registration(name: str, port: int) -> list[str]:
        """The `idp` arguments that register a demo client served on this port."""
        base = f"http://127.0.0.1:{port}"
        return ["--json", "clients", "add", "--name", name,
                "--redirect-uri", f"{base}/callback",
                "--post-logout-redirect-uri", f"{base}/",
                "--backchannel-logout-uri", f"{base}/backchannel-logout",
                "--scope", " ".join(WANTED_SCOPES)]

    def start_clients(self, names: dict[str, str],
                      registered: dict[str, tuple[int, dict]] | None = None,
                      wait: bool = True) -> None:
        """Start the demo clients (key -> service name), registering them first unless
        `registered` gives each one's port and `clients add` output; wait until they
        answer unless told not to (then call wait_for_clients())."""
        if registered is None:
            ports = {key: free_port() for key in names}
            outputs = self.idp_batch([self.client_registration(name, ports[key])
                                      for key, name in names.items()])
            registered = {key: (ports[key], json.loads(out))
                          for key, out in zip(names, outputs, strict=True)}
        for key, name in names.items():
            port, registration = registered[key]
            config = self.workdir / f"sample_client_{key}.json"
            config.write_text(json.dumps({
                "issuer": self.issuer, "client_id": registration["client_id"],
                "client_secret": registration["client_secret"], "service_name": name,
            }))
            env = {k: v for k, v in self.env.items() if not k.startswith("IDP_")}
            env["SAMPLE_CLIENT_CONFIG"] = str(config)
            process = self._spawn(
                f"client-{key}", f"http://127.0.0.1:{port}",
                [sys.executable, "-m", "examples.sample_client", "--port", str(port)],
                env, wait=False,
            )
            self.clients[key] = SampleClient(name, registration["client_id"], process)
        if wait:
            self.wait_for_clients()

    def wait_for_clients(self) -> None:
        """Wait until every demo client answers."""
        for client in self.clients.values():
            _wait_healthy(client.process)

    def stop(self) -> None:
        """Stop every process, the clients first."""
        for client in self.clients.values():
            client.process.terminate()
        for process in (self.provider, self.franceconnect):
            if process is not None:
                process.terminate()

    # -- the command line and the outbox ------------------------------------------------

    def idp(self, *args: str) -> str:
        """Run the `idp` command line against this stack's database."""
        result = subprocess.run(
            [IDP, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
            timeout=60, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"idp {' '.join(args[:3])} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        return result.stdout

    def idp_batch(self, commands: list[list[str]]) -> list[str]:
        """Run several `idp` commands in one process (tests/browser/idp_batch.py), in
        order; return their outputs. The provider's import is paid once."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.browser.idp_batch"], input=json.dumps(commands),
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120,
            check=False,
        )
        try:
            outcomes = json.loads(result.stdout)
        except ValueError:
            raise RuntimeError(f"idp batch failed ({result.returncode}):\n{result.stdout}\n"
                               f"{result.stderr[-3000:]}") from None
        failed = [o for o in outcomes if not o["ok"]]
        if failed or len(outcomes) != len(commands):
            raise RuntimeError(f"idp {' '.join(failed[0]['args'][:3]) if failed else ''} "
                               f"failed:\n{failed[0]['output'] if failed else ''}\n"
                               f"{result.stderr[-3000:]}")
        return [o["output"] for o in outcomes]

    def idp_json(self, *args: str):
        """Run `idp --json ...` and return its parsed output."""
        return json.loads(self.idp("--json", *args))

    def messages(self, since: float = 0.0, to: str | None = None,
                 kind: str | None = None) -> list[dict]:
        """The outbox's messages sent at or after `since` (a time.time()), oldest first,
        optionally only those to one number or address, or of one kind
        (`activation_code`, `recovery_code`, `recovery_identifier`...)."""
        found = []
        if not self.outbox.is_dir():
            return found
        for path in sorted(self.outbox.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if data.get("sent_at", 0) < since or (to and data.get("to") != to) \
                    or (kind and data.get("kind") != kind):
                continue
            found.append(data)
        return found

    def wait_for_message(self, since: float, to: str | None = None, kind: str | None = None,
                         timeout: float = 10.0) -> dict:
        """The latest matching message sent after `since`, waiting for it (recovery
        messages leave only once the page has been answered)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(since, to, kind)
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {kind or 'message'} to {to or 'anyone'} in {self.outbox} after "
                    f"{timeout}s; the last ones: {self.messages()[-3:]}")
            time.sleep(0.05)

    def sms_code(self, since: float, to: str, kind: str = "activation_code") -> str:
        """The 6-digit code of the latest SMS of that kind sent to a number."""
        body = self.wait_for_message(since, to, kind)["body"]
        match = re.search(r"\b(\d{6})\b", body)
        assert match, f"no code in the SMS {body!r}"
        return match.group(1)

    def _spawn(self, name: str, base_url: str, args: list[str], env: dict,
               wait: bool = True, health: str = "/healthz") -> Process:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        process = Process(name, base_url, proc, log_path, health)
        if not wait:
            return process
        try:
            _wait_healthy(process)
        except BaseException:
            process.terminate()
            raise
        return process


def _wait_healthy(process: Process) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last = None
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.proc.returncode}:\n"
                               f"{process.log_tail()}")
        try:
            response = session.get(f"{process.base_url}{process.health}", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not healthy after {STARTUP_TIMEOUT}s ({last}):\n"
                       f"{process.log_tail()}")


#: The demo clients of the browser tests.
CLIENTS = {"main": "Scolarité Services (démo)", "second": "Cantine en ligne (démo)"}


def start(workdir: Path, clients: dict[str, str] | None = None,
          provisional: tuple[str, ...] = (),
          admins: tuple[tuple[str, str, str], ...] = ()) -> Stack:
    """The provider with the FranceConnect simulator, plus demo clients (by default
    "main", and "second" for SSO).

    `provisional` names accounts given a provisional password at start-up, as their
    school would (`stack.provisional[identifier]`); `admins` are (identifier, UAI,
    password) of administrators to create (`stack.admins[identifier]`: the TOTP
    secret). Every `idp` command of the start-up runs in one process (idp_batch.py)
    while the simulator starts."""
    stack = Stack(workdir)
    clients = CLIENTS if clients is None else clients
    try:
        stack.prepare()
        ports = {key: free_port() for key in clients}
        commands = [["db", "upgrade"], ["demo", "load"]]
        commands += [stack.client_registration(name, ports[key])
                     for key, name in clients.items()]
        commands += [["--json", "accounts", "reset", identifier] for identifier in provisional]
        commands += [["--json", "admins", "create", "--identifier", identifier, "--uai", uai,
                      "--password", password] for identifier, uai, password in admins]
        outputs = iter(stack.idp_batch(commands)[2:])
        registered = {key: (ports[key], json.loads(next(outputs))) for key in clients}
        for identifier in provisional:
            stack.provisional[identifier] = json.loads(next(outputs))["password"]
        for identifier, _, _ in admins:
            stack.admins[identifier] = json.loads(next(outputs))["totp_secret"]
        # The clients need the provider only at the first login: they start meanwhile.
        stack.start_clients(clients, registered, wait=False)
        stack.serve()
        stack.wait_for_clients()
    except BaseException:
        stack.stop()
        raise
    return stack
