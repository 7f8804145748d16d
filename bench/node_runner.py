"""node-oidc-provider side by side: install it under bench/.work/node (gitignored) with
npm, start bench/node_op/server.mjs as one node process, and drive it with the same
relying party as our provider."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time

from bench.common import BENCH_DIR
from bench.common import WORK_DIR
from bench.common import BenchError
from bench.common import free_port
from bench.common import stop_process
from bench.common import tail
from bench.common import wait_http
from bench.flows import RelyingParty
from bench.instance import REDIRECT_URI
from bench.instance import SCOPE

SOURCE = BENCH_DIR / "node_op"
NODE_DIR = WORK_DIR / "node"


def install() -> str:
    """Install oidc-provider@9 into bench/.work/node; return the installed version."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchError("node and npm are not installed (Debian: apt-get install nodejs npm)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "server.mjs"):
        shutil.copyfile(SOURCE / name, NODE_DIR / name)
    installed = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.exists():
        out = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=600,
        )
        if out.returncode != 0 or not installed.exists():
            raise BenchError(f"npm install oidc-provider failed: {out.stderr.strip()[-600:]}")
    return json.loads(installed.read_text())["version"]


class NodeProvider:
    """One node-oidc-provider process on 127.0.0.1."""

    def __init__(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.client_id = "bench-" + secrets.token_hex(6)
        self.client_secret = secrets.token_urlsafe(32)
        self.log = NODE_DIR / "server.log"
        self.proc = None

    def start(self) -> None:
        """Start node server.mjs and wait for its discovery document."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "NODE_ENV": "production",
            "PORT": str(self.port),
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "REDIRECT_URI": REDIRECT_URI,
            "PAIRWISE_SALT": secrets.token_urlsafe(24),
            "COOKIE_KEY": secrets.token_urlsafe(32),
        }
        with self.log.open("wb") as logfh:
            self.proc = subprocess.Popen(
                [shutil.which("node"), "server.mjs"], cwd=NODE_DIR, env=env,
                stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_http(f"{self.base}/.well-known/openid-configuration", self.proc, log=self.log)

    def pids(self) -> list[int]:
        """The node process (all its threads, including libuv's pool and the GC's)."""
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def relying_party(self) -> RelyingParty:
        """A relying party logged in once through the benchmark interaction."""
        rp = RelyingParty(self.base, self.client_id, self.client_secret, REDIRECT_URI, SCOPE)
        rp.interaction_login()
        return rp

    def warnings(self) -> list[str]:
        """What node-oidc-provider printed (its warnings), for the report."""
        time.sleep(0.1)
        return [
            line.strip() for line in tail(self.log, 20).splitlines()
            if "WARNING" in line
        ]

    def stop(self) -> None:
        """Stop the node process."""
        stop_process(self.proc)
        self.proc = None


def node_version() -> str | None:
    """The version of the node binary."""
    path = shutil.which("node")
    if not path:
        return None
    return subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()


__all__ = ["NodeProvider", "install", "node_version"]
