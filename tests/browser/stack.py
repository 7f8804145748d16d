"""The provider and the demo clients as real processes, for the browser tests and
for `scripts/screenshots.py`.

The `idp` CLI migrates a temporary SQLite database and loads the demo people;
gunicorn serves the provider on a free port of 127.0.0.1; each demo client
(examples/sample_client) is registered with `idp --json clients add` for its own
port and started with its registration file. Nothing here imports the provider:
it is driven from outside, as in production.
"""

from __future__ import annotations

import ctypes
import json
import os
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

#: The demo people `idp demo load` creates (idp/demo.py).
PARENT = ("c.durand", "Demo-Parent-2026")
PUPIL = ("e.durand3", "Demo-Eleve-2026")
#: What the demo clients are registered for, within what the provider offers.
WANTED_SCOPES = ["openid", "profile", "email", "phone", "school", "children"]


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
    """The provider and the demo clients of one test session."""

    workdir: Path
    provider: Process | None = None
    env: dict = field(default_factory=dict)
    clients: dict[str, SampleClient] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """The provider's issuer (its base URL)."""
        return self.provider.base_url

    def start_provider(self) -> None:
        """Migrate, load the demo, serve with gunicorn; wait until healthy."""
        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
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
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env
        self.idp("db", "upgrade")
        self.idp("demo", "load")  # also creates the signing keys, before the workers fork
        self.provider = self._spawn(
            "provider", issuer,
            [sys.executable, "-m", "gunicorn", "idp.wsgi:app",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--graceful-timeout", "2", "--error-logfile", "-", "--no-control-socket"],
            env,
        )
        discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
        offered = discovery.get("scopes_supported") or []
        self.scopes = [s for s in WANTED_SCOPES if s in offered]

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

    def start_clients(self, names: dict[str, str]) -> None:
        """Register demo clients (key -> service name), each for a free port, and start
        them; the registrations, then the start-ups, run side by side."""
        ports = {key: free_port() for key in names}
        bases = {key: f"http://127.0.0.1:{port}" for key, port in ports.items()}
        pending = {
            key: subprocess.Popen(  # noqa: S603 - our own command line
                [IDP, "--json", "clients", "add", "--name", name,
                 "--redirect-uri", f"{bases[key]}/callback",
                 "--post-logout-redirect-uri", f"{bases[key]}/",
                 "--backchannel-logout-uri", f"{bases[key]}/backchannel-logout",
                 "--scope", " ".join(self.scopes)],
                env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )
            for key, name in names.items()
        }
        registrations = {}
        for key, proc in pending.items():
            out, err = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(f"idp clients add failed ({proc.returncode}):\n{out}\n{err}")
            registrations[key] = json.loads(out)
        for key, name in names.items():
            config = self.workdir / f"sample_client_{key}.json"
            config.write_text(json.dumps({
                "issuer": self.issuer, "client_id": registrations[key]["client_id"],
                "client_secret": registrations[key]["client_secret"], "service_name": name,
            }))
            env = {k: v for k, v in self.env.items() if not k.startswith("IDP_")}
            env["SAMPLE_CLIENT_CONFIG"] = str(config)
            process = self._spawn(
                f"client-{key}", bases[key],
                [sys.executable, "-m", "examples.sample_client", "--port", str(ports[key])],
                env, wait=False,
            )
            self.clients[key] = SampleClient(name, registrations[key]["client_id"], process)
        for key in names:
            _wait_healthy(self.clients[key].process)

    def stop(self) -> None:
        """Stop every process, the clients first."""
        for client in self.clients.values():
            client.process.terminate()
        if self.provider is not None:
            self.provider.terminate()

    def _spawn(self, name: str, base_url: str, args: list[str], env: dict,
               wait: bool = True) -> Process:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        process = Process(name, base_url, proc, log_path)
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
            response = session.get(f"{process.base_url}/healthz", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not healthy after {STARTUP_TIMEOUT}s ({last}):\n"
                       f"{process.log_tail()}")


def start(workdir: Path) -> Stack:
    """The provider plus two demo clients: "main" and "second" (for SSO)."""
    stack = Stack(workdir)
    try:
        stack.start_provider()
        stack.start_clients({"main": "Scolarité Services (démo)",
                             "second": "Cantine en ligne (démo)"})
    except BaseException:
        stack.stop()
        raise
    return stack
