"""A provider instance for benchmarks: a temporary database (SQLite file or a dedicated
PostgreSQL schema) prepared with the `idp` CLI, served by gunicorn (1 sync worker) as a
separate process; the worker's pid is known so that its CPU can be read from /proc."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bench.common import ROOT
from bench.common import VENV_BIN
from bench.common import BenchError
from bench.common import children
from bench.common import free_port
from bench.common import spawn
from bench.common import stop_process
from bench.common import wait_http

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

IDENTIFIER = "bench.user"
PASSWORD = "Bench-Password-2026"  # noqa: S105 - a throw-away account in a temporary database
GIVEN_NAME = "Camille"
FAMILY_NAME = "Martin"
EMAIL = "camille.martin@example.org"
REDIRECT_URI = "http://127.0.0.1:9/cb"
SCOPE = "openid profile email"


def pg_reachable() -> tuple[bool, str]:
    """Tell whether the benchmark PostgreSQL answers; with the reason when it does not."""
    try:
        import psycopg
    except ImportError:
        return False, "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        return True, version
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return False, f"{PG_URL}: {exc.__class__.__name__}: {str(exc).strip()[:200]}"


class Instance:
    """One provider (temporary database + gunicorn) for the duration of a benchmark."""

    def __init__(self, engine: str = "sqlite", label: str = "bench", extra_env=None):
        if engine not in ("sqlite", "postgresql"):
            raise ValueError(engine)
        self.engine = engine
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"idp-{label}-"))
        self.log = self.tmp / "gunicorn.log"
        self.schema = None
        self.app_name = f"idpbench{secrets.token_hex(4)}"
        if engine == "sqlite":
            self.db_path = self.tmp / "idp.sqlite3"
            self.database_url = f"sqlite:///{self.db_path}"
        else:
            import psycopg

            self.schema = f"bench_{label.replace('-', '_')}_{secrets.token_hex(4)}"
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            sep = "&" if "?" in PG_URL else "?"
            self.database_url = (
                f"{PG_URL}{sep}options={quote('-csearch_path=' + self.schema)}"
                f"&application_name={self.app_name}"
            )
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("IDP_")
        }
        self.env.update({
            "IDP_ENV": "testing",
            "IDP_ISSUER": self.base,
            "IDP_DATABASE_URL": self.database_url,
            "IDP_SECRET_KEY": secrets.token_urlsafe(40),
            "IDP_PAIRWISE_SALT": secrets.token_urlsafe(24),
            "IDP_VAR_DIR": str(self.tmp / "var"),
            "IDP_REDIS_URL": "",
            # The benchmark logs in from one address far more often than a person would.
            "IDP_RATELIMIT_LOGIN_PER_IP": "100000000",
            # As in conf/production.example.toml: JSON logs at INFO (the audit trail).
            "IDP_LOG_JSON": "true",
            "IDP_LOG_LEVEL": "INFO",
        })
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self.worker_pid: int | None = None
        self.client_id = ""
        self.client_secret = ""

    # -- preparation through the CLI --------------------------------------------------------

    def cli(self, *args: str) -> dict | list:
        """Run `idp --json ARGS` against this instance's database; return the JSON output."""
        idp = VENV_BIN / "idp"
        out = subprocess.run(
            [str(idp), "--json", *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=300,
        )
        if out.returncode != 0:
            raise BenchError(f"idp {' '.join(args[:2])} failed: {out.stderr.strip()[-800:]}")
        text = out.stdout.strip()
        start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
        return json.loads(text[start:]) if start >= 0 else {}

    def prepare(self) -> None:
        """Migrate, register the benchmark client and create the benchmark account."""
        self.cli("db", "upgrade")
        client = self.cli(
            "clients", "add", "--name", "Service de test (banc)", "--redirect-uri", REDIRECT_URI,
            "--scope", SCOPE, "--auth-method", "client_secret_basic",
            "--subject-type", "pairwise", "--id-token-alg", "RS256",
        )
        self.client_id = client["client_id"]
        self.client_secret = client["client_secret"]
        self.cli(
            "accounts", "create", "--identifier", IDENTIFIER, "--password", PASSWORD,
            "--given-name", GIVEN_NAME, "--family-name", FAMILY_NAME, "--email", EMAIL,
        )

    # -- the server ---------------------------------------------------------------------------

    def start(self, app_module: str = "idp.wsgi:app") -> None:
        """Start gunicorn (1 sync worker) and find its worker process."""
        cmd = [
            str(VENV_BIN / "python"), "-m", "gunicorn", app_module,
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "sync",
            "--timeout", "120",
        ]
        self.proc = spawn(cmd, self.env, self.log)
        wait_http(f"{self.base}/healthz", self.proc, log=self.log)
        self.worker_pid = self._worker()

    def _worker(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kids = children(self.proc.pid)
            if len(kids) == 1:
                return kids[0]
            time.sleep(0.1)
        raise BenchError(f"gunicorn master {self.proc.pid} has workers {children(self.proc.pid)}")

    def server_pids(self) -> list[int]:
        """The processes whose CPU is the server's: the gunicorn worker."""
        return [self.worker_pid] if self.worker_pid else []

    def db_backend_pids(self) -> list[int]:
        """PostgreSQL backend processes serving this instance (by application_name)."""
        if self.engine != "postgresql":
            return []
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (self.app_name,),
            ).fetchall()
        return [r[0] for r in rows]

    def stop(self) -> None:
        """Stop gunicorn."""
        stop_process(self.proc)
        self.proc = None
        self.worker_pid = None

    def cleanup(self) -> None:
        """Stop the server, drop the PostgreSQL schema and remove the temporary files."""
        self.stop()
        if self.schema:
            try:
                import psycopg

                with psycopg.connect(PG_URL, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            except Exception:  # noqa: BLE001, S110 - best effort on the way out
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
