"""node-oidc-provider side by side: install it under bench/.work/node (gitignored) with
npm, start bench/node_op/server.mjs as one node process, and drive it with the same
relying party as our provider. A second process can keep its state in Redis
(bench/node_op/redis_adapter.mjs, ioredis) under a key prefix of its own, deleted at the
end (never FLUSHDB: the Redis server is shared)."""

from __future__ import annotations

import json
import os
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
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
FILES = ("package.json", "server.mjs", "redis_adapter.mjs")
PACKAGES = ("oidc-provider", "ioredis")
INSTALL_ERRORS: list[str] = []


def install() -> str:
    """Install oidc-provider@9 and ioredis into bench/.work/node (versions as in
    bench/node_op/package.json); return the installed oidc-provider version."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchError("node and npm are not installed (Debian: apt-get install nodejs npm)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(SOURCE / name, NODE_DIR / name)
    installed = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not all(package_version(name) for name in PACKAGES):
        out = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=600,
        )
        if not installed.exists():
            raise BenchError(f"npm install oidc-provider failed: {out.stderr.strip()[-600:]}")
        if out.returncode != 0:
            # oidc-provider is there (from an earlier install): the memory-adapter run goes
            # on; the Redis run is skipped when ioredis is missing, with this reason.
            INSTALL_ERRORS.append(f"npm install failed: {out.stderr.strip()[-300:]}")
    return json.loads(installed.read_text())["version"]


def package_version(name: str) -> str | None:
    """The version of an npm package installed in bench/.work/node, or None."""
    path = NODE_DIR / "node_modules" / name / "package.json"
    try:
        return json.loads(path.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


class NodeProvider:
    """One node-oidc-provider process on 127.0.0.1; with redis_prefix, its adapter is
    bench/node_op/redis_adapter.mjs on REDIS_URL under that key prefix."""

    def __init__(self, redis_prefix: str | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.client_id = "bench-" + secrets.token_hex(6)
        self.client_secret = secrets.token_urlsafe(32)
        self.redis_prefix = redis_prefix
        self.log = NODE_DIR / ("server-redis.log" if redis_prefix else "server.log")
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
        if self.redis_prefix:
            env["REDIS_URL"] = REDIS_URL
            env["REDIS_PREFIX"] = self.redis_prefix
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


class RedisServer:
    """The Redis server at REDIS_URL (shared with other programs): its version, its
    process (for its CPU, from /proc), and the deletion of one run's keys by prefix."""

    def __init__(self):
        import redis

        self.client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3,
                                           socket_timeout=10)
        self.info = self.client.info("server")
        self.version = self.info.get("redis_version")
        self.pid = self._local_pid(self.info.get("process_id"))

    @staticmethod
    def _local_pid(pid) -> int | None:
        """The server's pid when /proc shows it as redis-server (same machine and pid
        namespace), else None."""
        try:
            with open(f"/proc/{int(pid)}/stat") as fh:
                data = fh.read()
        except (OSError, TypeError, ValueError):
            return None
        return int(pid) if "redis" in data[data.index("(") + 1 : data.rindex(")")] else None

    def pids(self) -> list[int]:
        """The redis-server process (all its threads), when readable."""
        return [self.pid] if self.pid else []

    def stats(self) -> dict:
        """Commands processed and clients connected so far (INFO)."""
        info = self.client.info()
        return {"commands": info.get("total_commands_processed", 0),
                "clients": info.get("connected_clients", 0),
                "db_keys": {k: v.get("keys") for k, v in info.items()
                            if k.startswith("db") and isinstance(v, dict)}}

    def count(self, prefix: str) -> int:
        """How many keys carry this prefix."""
        return sum(1 for _ in self.client.scan_iter(match=f"{prefix}*", count=1000))

    def cleanup(self, prefix: str) -> int:
        """Delete this run's keys (SCAN MATCH prefix*, then DEL); return how many."""
        if not prefix or any(c in prefix for c in "*?[]\\"):
            raise BenchError(f"refusing to delete Redis keys with prefix {prefix!r}")
        keys = list(self.client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])
        return len(keys)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def redis_server() -> tuple[RedisServer | None, str | None]:
    """(the Redis server, None) when it answers at REDIS_URL, else (None, why not)."""
    try:
        import redis
    except ImportError:
        return None, "the Python package redis is not installed in the venv"
    try:
        return RedisServer(), None
    except redis.RedisError as exc:
        return None, f"Redis at {REDIS_URL} does not answer ({exc})"


def node_version() -> str | None:
    """The version of the node binary."""
    path = shutil.which("node")
    if not path:
        return None
    return subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()


__all__ = ["NodeProvider", "RedisServer", "install", "node_version", "package_version",
           "redis_server"]
