"""Load test of issue 8: gunicorn + PostgreSQL + Redis under a school-morning mix.

    .venv/bin/python -m bench.loadtest [--duration 180] [--users 16] [--workers 2] [--quick]

1. PostgreSQL (BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test): a schema of
   its own for the run, dropped at the end; Redis (BENCH_REDIS_URL, default
   redis://127.0.0.1:6379/0) with a key prefix of its own, deleted at the end.
2. `idp db upgrade`, a confidential client (`idp --json clients add ... --scope "openid
   profile email offline_access"`), N accounts COPYed in bulk sharing one argon2id hash
   (made with the configured parameters) of a known password.
3. gunicorn as production runs it (`--config python:idp.gunicorn_conf`, W sync workers,
   access log, Prometheus multiprocess directory).
4. locust, headless, in a separate process (bench/loadtest_locust.py): U users, each a
   browser with its tokens, weighted login 15 / sso 45 / refresh 20 / userinfo 20, no
   think time unless --think-ms; a warm-up, then the measured window.
5. Meanwhile, once a second: CPU of gunicorn (master, live workers, and reaped workers
   through the master's cutime/cstime, so that recycled workers still count), of the
   PostgreSQL backends serving this provider, of the load generator, of Redis, of the
   whole machine.
6. Report: JSON on stdout (progress on stderr), bench/.work/loadtest.json, and
   docs/loadtest.md (a --quick run, or one shorter than 120 s, writes
   bench/.work/loadtest.md instead).

Exit status 1 when any error happened (an unexpected status, a failed check, a timeout,
a 5xx in the access log, an error in the provider's log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import requests

from bench import bulk
from bench.common import CLK_TCK
from bench.common import ROOT
from bench.common import VENV_BIN
from bench.common import WORK_DIR
from bench.common import BenchError
from bench.common import children
from bench.common import cmdline
from bench.common import cpu_snapshot
from bench.common import machine
from bench.common import spawn
from bench.common import stat_cpu
from bench.common import tail
from bench.common import wait_http
from bench.common import wait_quiet
from bench.instance import PG_URL
from bench.instance import Instance
from bench.instance import pg_reachable

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "Loadtest-Password-2026"  # noqa: S105 - throw-away accounts in a dropped schema
IDENTIFIER_FORMAT = "bulk.{:08d}"  # bench/bulk.py's identifiers
SCOPE = "openid profile email offline_access"
REDIRECT_URI = "http://127.0.0.1:9/cb"
WEIGHTS = {"login": 15, "sso": 45, "refresh": 20, "userinfo": 20}
DOC = ROOT / "docs" / "loadtest.md"
OPERATIONS = ("login", "sso", "refresh", "userinfo")
HTTP_ORDER = (
    "GET /authorize (no session)", "GET /login", "POST /login", "GET /authorize/resume",
    "GET /authorize (session)", "POST /token (code)", "POST /token (refresh)", "GET /userinfo",
)
ACCESS_RE = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3}) ')


def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON summary)."""
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the provider ------------------------------------------------------------------------------


class LoadInstance(Instance):
    """bench/instance.py's provider on PostgreSQL, with Redis and W gunicorn workers
    configured as in production (idp/gunicorn_conf.py)."""

    def __init__(self, workers: int, max_requests: int | None = None):
        self.redis_prefix = f"idp-loadtest-{secrets.token_hex(4)}:"
        super().__init__("postgresql", label="loadtest", extra_env={
            "IDP_REDIS_URL": REDIS_URL,
            "IDP_REDIS_PREFIX": self.redis_prefix,
        })
        self.workers = workers
        self.max_requests = max_requests
        self.access_log = self.tmp / "access.log"
        metrics_dir = self.tmp / "prometheus"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        self.accounts = 0

    def prepare_load(self, accounts: int) -> dict:
        """Migrate, register the confidential client, COPY the accounts."""
        t0 = time.perf_counter()
        self.cli("db", "upgrade")
        client = self.cli(
            "clients", "add", "--name", "Service de test (charge)", "--redirect-uri",
            REDIRECT_URI, "--scope", SCOPE, "--auth-method", "client_secret_basic",
            "--subject-type", "pairwise", "--id-token-alg", "RS256",
        )
        self.client_id = client["client_id"]
        self.client_secret = client["client_secret"]
        migrate_s = time.perf_counter() - t0
        from argon2 import PasswordHasher
        from argon2 import Type

        from idp.config import load_defaults

        cfg = load_defaults()
        params = {k: cfg[f"argon2_{k}"] for k in ("memory_kib", "time_cost", "parallelism")}
        password_hash = PasswordHasher(
            time_cost=params["time_cost"], memory_cost=params["memory_kib"],
            parallelism=params["parallelism"], hash_len=32, salt_len=16, type=Type.ID,
        ).hash(PASSWORD)
        insert_s = bulk.insert_pg(PG_URL, self.schema, 0, accounts, password_hash)
        self.accounts = bulk.count_pg(PG_URL, self.schema)
        if self.accounts != accounts:
            raise BenchError(f"{self.accounts} accounts in the schema, {accounts} expected")
        return {"migrate_and_client_s": round(migrate_s, 1), "insert_s": round(insert_s, 1),
                "accounts": self.accounts, "argon2": params}

    def start(self, app_module: str = "idp.wsgi:app") -> None:
        """gunicorn with the production settings module and W workers."""
        cmd = [
            str(VENV_BIN / "python"), "-m", "gunicorn", app_module,
            "--workers", str(self.workers), "--config", "python:idp.gunicorn_conf",
            "--bind", f"127.0.0.1:{self.port}",
            # As `idp serve` does (it logs to stdout; here a file, read afterwards).
            "--access-logfile", str(self.access_log), "--forwarded-allow-ips", "127.0.0.1",
        ]
        if self.max_requests:
            # Overrides idp/gunicorn_conf.py's 20000 ± 2000, to see recycling under load.
            jitter = max(1, self.max_requests // 10)
            cmd += ["--max-requests", str(self.max_requests),
                    "--max-requests-jitter", str(jitter)]
        self.proc = spawn(cmd, self.env, self.log)
        wait_http(f"{self.base}/healthz", self.proc, log=self.log)
        deadline = time.monotonic() + 20
        while len(children(self.proc.pid)) < self.workers:
            if time.monotonic() > deadline:
                raise BenchError(f"gunicorn has workers {children(self.proc.pid)}, "
                                 f"{self.workers} expected: {tail(self.log)}")
            time.sleep(0.1)
        ready = requests.get(f"{self.base}/readyz", timeout=10)
        if ready.status_code != 200:
            raise BenchError(f"/readyz answered {ready.status_code}: {ready.text[:300]}")

    def server_cpu(self) -> float:
        """CPU seconds of gunicorn: the master, its live workers, and the workers it has
        reaped (recycled by max_requests), which the kernel adds to its cutime/cstime."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
        fields = data[data.rindex(")") + 2 :].split()
        total = sum(int(f) for f in fields[11:15]) / CLK_TCK
        for kid in children(pid):
            try:
                total += stat_cpu(kid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total

    def redis_cleanup(self) -> int:
        """Delete this run's Redis keys; return how many there were."""
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        return len(keys)


def redis_version() -> str:
    """The Redis server's version, or a BenchError when it does not answer."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        return client.info("server")["redis_version"]
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        raise BenchError(f"Redis at {REDIS_URL} does not answer: {exc}") from exc


# -- CPU once a second ----------------------------------------------------------------------------


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, idle+iowait, steal) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return user + nice + system + irq + softirq, idle + iowait, steal


class Monitor(threading.Thread):
    """Samples the CPU counters once a second until stopped."""

    def __init__(self, inst: LoadInstance, interval: float = 1.0):
        super().__init__(daemon=True)
        self.inst = inst
        self.interval = interval
        self.generator_pid: int | None = None
        self.samples: list[dict] = []
        self._halt = threading.Event()
        self._pg_base: dict[int, float] = {}
        self._pg_last: dict[int, float] = {}
        self._first = True
        self.error: str | None = None

    def run(self) -> None:
        import psycopg

        try:
            conn = psycopg.connect(PG_URL, autocommit=True)
        except Exception as exc:  # noqa: BLE001
            self.error = f"monitor cannot reach PostgreSQL: {exc}"
            return
        try:
            while not self._halt.is_set():
                self.samples.append(self._sample(conn))
                self._halt.wait(self.interval)
            self.samples.append(self._sample(conn))
        except Exception as exc:  # noqa: BLE001 - keep what was sampled
            self.error = f"monitor stopped: {exc.__class__.__name__}: {exc}"
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def _sample(self, conn) -> dict:
        t = time.time()
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (self.inst.app_name,),
        ).fetchall()]
        for pid in pids:
            try:
                cpu = stat_cpu(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if pid not in self._pg_base:
                # Backends alive at the first sample count from there; later ones from birth.
                self._pg_base[pid] = cpu if self._first else 0.0
            self._pg_last[pid] = cpu
        self._first = False
        generator = None
        if self.generator_pid:
            try:
                generator = stat_cpu(self.generator_pid)
            except (FileNotFoundError, ProcessLookupError):
                generator = None
        busy, idle, steal = machine_jiffies()
        return {
            "t": t,
            "server": self.inst.server_cpu(),
            "pg_app": sum(self._pg_last[p] - self._pg_base[p] for p in self._pg_last),
            "pg_backends": len(pids),
            "generator": generator,
            "busy": busy / CLK_TCK,
            "idle": idle / CLK_TCK,
            "steal": steal / CLK_TCK,
            "snapshot": cpu_snapshot(),
        }

    def window(self, start: float, end: float) -> dict:
        """CPU used during [start, end], from the samples closest inside it."""
        inside = [s for s in self.samples if start - 0.5 <= s["t"] <= end + 0.5]
        if len(inside) < 2:
            return {"error": "fewer than two CPU samples in the window"}
        a, b = inside[0], inside[-1]
        dt = b["t"] - a["t"]

        def cores(key):
            if a.get(key) is None or b.get(key) is None:
                return None
            return round((b[key] - a[key]) / dt, 3)

        procs = _per_process(inside)
        own_self = procs["self"]
        known = (b["server"] - a["server"]) + procs["postgres"] + procs["redis"] + procs["other"]
        known += own_self
        if a.get("generator") is not None and b.get("generator") is not None:
            known += b["generator"] - a["generator"]
        return {
            "seconds": round(dt, 1),
            "server_cores": cores("server"),
            "server_cpu_s": round(b["server"] - a["server"], 1),
            "pg_app_cores": cores("pg_app"),
            "pg_app_cpu_s": round(b["pg_app"] - a["pg_app"], 1),
            "pg_backends_max": max(s["pg_backends"] for s in inside),
            "postgres_all_cores": round(procs["postgres"] / dt, 3),
            "generator_cores": cores("generator"),
            "redis_cores": round(procs["redis"] / dt, 3),
            "orchestrator_cores": round(own_self / dt, 3),
            "machine_busy_cores": cores("busy"),
            "machine_idle_cores": cores("idle"),
            "machine_steal_cores": cores("steal"),
            "other_processes_cores": round(procs["other"] / dt, 3),
            "other_processes_top": procs["top"],
            # Busy time that no process seen by the once-a-second samples accounts for:
            # processes that lived less than a second, interrupts, the kernel's own threads.
            "unaccounted_cores": round(((b["busy"] - a["busy"]) - known) / dt, 3),
        }


def _per_process(samples: list[dict]) -> dict:
    """CPU seconds used between the first and the last sample by every process seen in any
    sample (so that processes that came and went inside the window count too), grouped:
    PostgreSQL, Redis, this script, other processes outside this script's process tree."""
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    info: dict[int, tuple[int, str]] = {}
    for index, sample in enumerate(samples):
        for pid, (cpu, ppid, name) in sample["snapshot"].items():
            if pid not in first:
                # Alive at the first sample: count from there; born later: from birth.
                first[pid] = cpu if index == 0 else 0.0
            last[pid] = cpu
            info[pid] = (ppid, name)
    root = os.getpid()
    own = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _name) in info.items():
            if ppid in own and pid not in own:
                own.add(pid)
                changed = True
    out = {"postgres": 0.0, "redis": 0.0, "other": 0.0, "self": last.get(root, 0.0)
           - first.get(root, 0.0)}
    foreign = {}
    for pid, cpu in last.items():
        used = cpu - first[pid]
        if pid in own or used <= 0:
            continue
        name = info[pid][1]
        if name.startswith("postgres"):
            out["postgres"] += used
        elif name.startswith("redis-server"):
            out["redis"] += used
        else:
            out["other"] += used
            foreign[pid] = used
    top = sorted(foreign.items(), key=lambda kv: -kv[1])[:3]
    out["top"] = [f"{cmdline(pid) or info[pid][1]} ({cpu:.1f} s)" for pid, cpu in top
                  if cpu >= 0.5]
    return out


# -- after the run: what the provider itself says ------------------------------------------------


def scrape_metrics(base: str) -> dict:
    """Login and token counters and server-side mean latency per endpoint, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{base}/metrics", timeout=10).text
    logins, tokens, sums, counts = {}, {}, {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "idp_logins_total":
                logins[labels["result"]] = int(sample.value)
            elif sample.name == "idp_tokens_issued_total":
                tokens[labels["grant_type"]] = int(sample.value)
            elif sample.name == "idp_request_duration_seconds_sum":
                sums[f"{labels['method']} {labels['endpoint']}"] = sample.value
            elif sample.name == "idp_request_duration_seconds_count":
                counts[f"{labels['method']} {labels['endpoint']}"] = int(sample.value)
    server_ms = {
        key: {"count": counts[key], "mean_ms": round(1000 * sums.get(key, 0) / counts[key], 1)}
        for key in sorted(counts) if counts[key]
    }
    return {"logins": logins, "tokens_issued": tokens, "server_side_latency": server_ms}


def read_logs(inst: LoadInstance) -> dict:
    """Status codes from the access log; errors, tracebacks, worker (re)starts from the
    server log."""
    statuses: dict[str, int] = {}
    fivexx: list[str] = []
    if inst.access_log.exists():
        for line in inst.access_log.read_text(errors="replace").splitlines():
            match = ACCESS_RE.search(line)
            if not match:
                continue
            status = match.group(3)
            statuses[status] = statuses.get(status, 0) + 1
            if status.startswith("5") and len(fivexx) < 20:
                fivexx.append(line[:300])
    problems, boots, recycled = [], 0, 0
    if inst.log.exists():
        for line in inst.log.read_text(errors="replace").splitlines():
            if "Booting worker" in line:
                boots += 1
            if "Autorestarting worker" in line or "max requests" in line.lower():
                recycled += 1
            lowered = line.lower()
            if ('"level": "error"' in lowered or '"level": "critical"' in lowered
                    or "traceback" in lowered or "[error]" in lowered
                    or "[critical]" in lowered or "worker timeout" in lowered):
                problems.append(line[:600])
    return {
        "access_log_statuses": dict(sorted(statuses.items())),
        "access_log_5xx": fivexx,
        "server_log_problems": len(problems),
        "server_log_problem_lines": problems[:20],
        "worker_boots": boots,
        "worker_recycles": recycled,
    }


# -- the run ------------------------------------------------------------------------------------


def run(args) -> dict:
    ok, pg_info = pg_reachable()
    if not ok:
        raise BenchError(f"PostgreSQL is needed: {pg_info}")
    redis_info = redis_version()
    report: dict = {
        "settings": {
            "duration_s": args.duration, "warmup_s": args.warmup, "users": args.users,
            "workers": args.workers, "accounts": args.accounts, "weights": WEIGHTS,
            "think_ms": args.think_ms, "client": args.client, "timeout_s": args.timeout,
            "quick": args.quick, "max_requests": args.max_requests,
        },
        "machine": {**machine(), "postgresql": pg_info, "redis": redis_info},
    }
    report["machine"]["packages"]["locust"] = metadata.version("locust")
    report["machine"]["packages"]["gevent"] = metadata.version("gevent")
    report["machine"]["packages"]["geventhttpclient"] = metadata.version("geventhttpclient")
    inst = LoadInstance(args.workers, args.max_requests)
    monitor = None
    try:
        log(f"PostgreSQL schema {inst.schema}, Redis prefix {inst.redis_prefix}")
        log(f"migrating, registering the client, inserting {args.accounts:,} accounts")
        report["setup"] = inst.prepare_load(args.accounts)
        log(f"gunicorn: {args.workers} workers on {inst.base}")
        inst.start()
        if args.quiet_wait > 0:
            log(f"waiting (at most {args.quiet_wait:.0f} s) for other processes to go quiet")
            waited, busy = wait_quiet(args.quiet_wait)
            report["quiet_wait"] = {"waited_s": round(waited, 1), "other_cores": busy}
            log(f"waited {waited:.0f} s; other processes used {busy:.2f} cores")
        monitor = Monitor(inst)
        monitor.start()
        config = {
            "base": inst.base, "issuer": inst.base, "client_id": inst.client_id,
            "client_secret": inst.client_secret, "redirect_uri": REDIRECT_URI, "scope": SCOPE,
            "accounts": args.accounts, "identifier_format": IDENTIFIER_FORMAT,
            "password": PASSWORD, "users": args.users, "ramp_s": min(5.0, args.warmup),
            "warmup_s": args.warmup, "duration_s": args.duration, "weights": WEIGHTS,
            "think_ms": args.think_ms, "client": args.client, "timeout": args.timeout,
            "stop_timeout": 60,
        }
        config_path = inst.tmp / "locust.json"
        result_path = inst.tmp / "locust-result.json"
        config_path.write_text(json.dumps(config))
        log(f"locust: {args.users} users, {args.warmup:.0f} s warm-up + "
            f"{args.duration:.0f} s measured")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        generator = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "bench.loadtest_locust", str(config_path),
             str(result_path)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        )
        monitor.generator_pid = generator.pid
        try:
            generator.wait(timeout=args.warmup + args.duration + 240)
        except subprocess.TimeoutExpired:
            generator.kill()
            generator.wait()
            raise BenchError("the load generator did not stop in time") from None
        monitor.stop()
        if generator.returncode != 0 or not result_path.exists():
            raise BenchError(f"the load generator exited with {generator.returncode}")
        result = json.loads(result_path.read_text())
        report["load"] = result
        report["cpu"] = monitor.window(result["window_start"], result["window_end"])
        # The generator measures its own CPU over the window exactly (getrusage); the
        # once-a-second samples may miss its end.
        if result.get("generator_window_cpu_s") is not None and result["window_s"]:
            gen = round(result["generator_window_cpu_s"] / result["window_s"], 3)
            if report["cpu"].get("generator_cores") is None and \
                    report["cpu"].get("unaccounted_cores") is not None:
                report["cpu"]["unaccounted_cores"] = round(
                    report["cpu"]["unaccounted_cores"] - gen, 3)
            report["cpu"]["generator_cores"] = gen
        if monitor.error:
            report["cpu"]["monitor_error"] = monitor.error
        report["provider_metrics"] = scrape_metrics(inst.base)
        inst.stop()
        report["provider_logs"] = read_logs(inst)
    finally:
        if monitor is not None and monitor.is_alive():
            monitor.stop()
        try:
            report.setdefault("cleanup", {})["redis_keys_deleted"] = inst.redis_cleanup()
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            report.setdefault("cleanup", {})["redis_error"] = str(exc)
        inst.cleanup()
        report.setdefault("cleanup", {})["schema_dropped"] = inst.schema
    report["summary"] = summary(report)
    return report


def summary(report: dict) -> dict:
    """The headline numbers."""
    load, cpu = report["load"], report.get("cpu", {})
    http, ops = load["http"]["overall"], load["operations"]
    logs = report.get("provider_logs", {})
    fivexx = sum(n for s, n in logs.get("access_log_statuses", {}).items() if s.startswith("5"))
    errors = load["errors"]["count"] + len(load["errors"]["unhandled_exceptions"])
    out = {
        "window_s": load["window_s"],
        "requests": http["count"],
        "requests_per_s": http["per_s"],
        "operations": sum(ops["per_name"][k]["count"] for k in ops["per_name"]),
        "operations_per_s": ops["overall"]["per_s"],
        "errors": errors,
        "http_failures": load["http"]["overall"]["errors"],
        "access_log_5xx": fivexx,
        "server_log_problems": logs.get("server_log_problems"),
        "p50_ms": http["p50_ms"], "p95_ms": http["p95_ms"], "p99_ms": http["p99_ms"],
        "per_operation": {
            name: {k: ops["per_name"][name][k]
                   for k in ("count", "per_s", "errors", "p50_ms", "p95_ms", "p99_ms")}
            for name in OPERATIONS if name in ops["per_name"]
        },
        "server_cores": cpu.get("server_cores"),
        "server_cpu_ms_per_request": round(1000 * cpu["server_cores"] / http["per_s"], 2)
        if cpu.get("server_cores") and http["per_s"] else None,
        "pg_app_cores": cpu.get("pg_app_cores"),
        "generator_cores": cpu.get("generator_cores"),
        "machine_busy_cores": cpu.get("machine_busy_cores"),
    }
    out["zero_errors"] = (errors == 0 and fivexx == 0 and not logs.get("server_log_problems"))
    return out


# -- docs/loadtest.md ---------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".replace(",", " ")
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    return str(value)


def _recycling(boots, workers: int) -> str:
    if boots is None:
        return ""
    if boots <= workers:
        return (f"No worker was recycled during the run ({boots} worker boots: fewer requests "
                "per worker than `max_requests`).")
    return (f"{boots - workers} workers were recycled by `max_requests` during the run, "
            "under load (a request that suffered from it would count as an error above).")


def _contention(cpu: dict) -> list[str]:
    """A warning when other work took a noticeable share of the machine."""
    foreign = (cpu.get("other_processes_cores") or 0) + max(0, cpu.get("unaccounted_cores") or 0)
    if foreign < 0.2:
        return []
    return [
        f"**Caution: other work used about {foreign:.2f} cores during the window** (other "
        "processes plus unattributed time): the provider got less CPU than the machine "
        "has, and the requests per second above understate what it does alone.",
        "",
    ]


def markdown(report: dict) -> str:
    s, m, load = report["summary"], report["machine"], report["load"]
    st, cpu, setup = report["settings"], report.get("cpu", {}), report["setup"]
    logs, metrics = report.get("provider_logs", {}), report.get("provider_metrics", {})
    pk = m["packages"]
    lines = [
        "# Load test: gunicorn + PostgreSQL + Redis",
        "",
        "The last item of issue 8's performance budget: a mix of logins, SSO flows, refreshes "
        "and userinfo calls against the provider as production runs it, for several minutes, "
        "with zero errors; throughput and p95 latency. Produced by "
        "`.venv/bin/python -m bench.loadtest` (bench/loadtest.py, load generator "
        "bench/loadtest_locust.py); the numbers below are those of the run of "
        f"{m['date']}.",
        "",
        "## Result",
        "",
        f"**{_fmt(s['requests'])} HTTP requests in {_fmt(s['window_s'], 0)} s: "
        f"{_fmt(s['requests_per_s'])} requests/s, {_fmt(s['operations_per_s'])} "
        f"operations/s; p95 latency {_fmt(s['p95_ms'])} ms (p50 {_fmt(s['p50_ms'])}, "
        f"p99 {_fmt(s['p99_ms'])}); {s['errors']} errors.**",
        "",
        f"Zero errors: **{'yes' if s['zero_errors'] else 'NO'}** — client-side failures "
        f"{s['errors']} (any unexpected status, failed check, timeout or connection error), "
        f"5xx in the provider's access log {s['access_log_5xx']}, error lines in its log "
        f"{s['server_log_problems']}.",
        "",
        "### Per operation",
        "",
        "An operation is what a person or a service does; its latency is that of all its "
        "requests in sequence.",
        "",
        "| Operation | Requests in it | Count | Share | Per second | Errors (whole run) "
        "| p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    steps = {
        "login": "GET /authorize → GET /login → POST /login → GET /authorize/resume → "
                 "POST /token",
        "sso": "GET /authorize (session) → POST /token → GET /userinfo",
        "refresh": "POST /token (refresh_token)",
        "userinfo": "GET /userinfo",
    }
    ops = load["operations"]["per_name"]
    total_ops = sum(ops[n]["count"] for n in ops) or 1
    for name in OPERATIONS:
        row = ops.get(name)
        if not row:
            continue
        lines.append(
            f"| {name} | {steps[name]} | {_fmt(row['count'])} | "
            f"{100 * row['count'] / total_ops:.0f} % | {_fmt(row['per_s'])} | "
            f"{row['errors']} | {_fmt(row['p50_ms'])} | {_fmt(row['p95_ms'])} | "
            f"{_fmt(row['p99_ms'])} |"
        )
    lines += [
        "",
        "### Per request",
        "",
        "Client-side time (locust) and, for comparison, the provider's own mean time per "
        "endpoint over the whole run (its `idp_request_duration_seconds` histogram): the "
        "difference is mostly waiting in gunicorn's listen queue, since more users than "
        "workers send requests without pause.",
        "",
        "| Request | Count | Per second | Errors (whole run) | mean ms | p50 ms | p95 ms | p99 ms "
        "| max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    http = load["http"]["per_name"]
    for name in [n for n in HTTP_ORDER if n in http] + [n for n in http if n not in HTTP_ORDER]:
        row = http[name]
        lines.append(
            f"| `{name}` | {_fmt(row['count'])} | {_fmt(row['per_s'])} | {row['errors']} | "
            f"{_fmt(row['mean_ms'])} | {_fmt(row['p50_ms'])} | {_fmt(row['p95_ms'])} | "
            f"{_fmt(row['p99_ms'])} | {_fmt(row['max_ms'])} |"
        )
    o = load["http"]["overall"]
    lines += [
        f"| **all** | **{_fmt(o['count'])}** | **{_fmt(o['per_s'])}** | **{o['errors']}** | "
        f"{_fmt(o['mean_ms'])} | {_fmt(o['p50_ms'])} | **{_fmt(o['p95_ms'])}** | "
        f"{_fmt(o['p99_ms'])} | {_fmt(o['max_ms'])} |",
        "",
    ]
    server_side = metrics.get("server_side_latency") or {}
    if server_side:
        lines += ["Provider-side mean time per endpoint (whole run, warm-up included): "
                  + "; ".join(f"`{k}` {_fmt(v['mean_ms'])} ms" for k, v in server_side.items()
                              if v["count"] >= 10) + ".", ""]
    tl = load.get("timeline") or []
    if tl:
        rates = [t["per_s"] for t in tl if t["per_s"] is not None]
        p95s = [t["p95_ms"] for t in tl if t["p95_ms"] is not None]
        lines += [
            f"Stability: over {len(tl)} slices of 10 s, requests/s ranged from "
            f"{_fmt(min(rates))} to {_fmt(max(rates))} and p95 from {_fmt(min(p95s))} to "
            f"{_fmt(max(p95s))} ms (requests/s per slice: "
            + ", ".join(f"{t['per_s']:.0f}" for t in tl if t["per_s"] is not None) + ").",
            "",
        ]
    lines += [
        "### Where the CPU went (measured window)",
        "",
        "| Process | Cores used | CPU |",
        "|---|---:|---|",
        f"| gunicorn ({st['workers']} workers + master; recycled workers included) | "
        f"{_fmt(cpu.get('server_cores'), 2)} | {_fmt(s['server_cpu_ms_per_request'], 2)} ms "
        "per HTTP request |",
        f"| PostgreSQL backends of this provider (up to {cpu.get('pg_backends_max', '–')}) | "
        f"{_fmt(cpu.get('pg_app_cores'), 2)} | |",
        f"| all PostgreSQL processes | {_fmt(cpu.get('postgres_all_cores'), 2)} | |",
        f"| Redis | {_fmt(cpu.get('redis_cores'), 2)} | |",
        f"| load generator (locust, one process) | {_fmt(cpu.get('generator_cores'), 2)} | |",
        f"| this script (sampling /proc once a second) | "
        f"{_fmt(cpu.get('orchestrator_cores'), 2)} | |",
        f"| other processes on the machine | {_fmt(cpu.get('other_processes_cores'), 2)} | "
        f"{'; '.join(cpu.get('other_processes_top') or []) or ''} |",
        f"| not attributed (processes shorter than a second, interrupts, kernel threads) | "
        f"{_fmt(cpu.get('unaccounted_cores'), 2)} | |",
        f"| **whole machine busy** | **{_fmt(cpu.get('machine_busy_cores'), 2)}** of "
        f"{m['cores']} | steal {_fmt(cpu.get('machine_steal_cores'), 2)} |",
        "",
        *_contention(cpu),
        f"**This machine has only {m['cores']} cores, shared by the load generator, gunicorn, "
        "PostgreSQL and Redis**: the throughput above is what is left to the provider once "
        "the load generator (a real HTTP client parsing every answer, with its own CPU) and "
        "the database have taken theirs, and it is bounded by the CPU, not by the "
        "provider's design. A login costs far more than the rest: it runs one argon2id "
        f"verify (m = {setup['argon2']['memory_kib']} KiB, t = {setup['argon2']['time_cost']}, "
        f"p = {setup['argon2']['parallelism']}, the OWASP parameters of conf/defaults.toml), "
        "deliberately slow. Sizing for production (dedicated app nodes, database and Redis "
        "elsewhere) starts from the CPU per request and per operation, not from these "
        "requests per second.",
        "",
        "## What ran",
        "",
        f"- Provider: gunicorn `--workers {st['workers']} --config python:idp.gunicorn_conf` "
        + (f"`--max-requests {st['max_requests']}` " if st.get("max_requests") else "")
        + "(sync workers, `max_requests` "
        + (f"{st['max_requests']}" if st.get("max_requests") else "20000 ± 2000")
        + ", access log to a file, Prometheus "
        "multiprocess directory), `IDP_ENV=testing`, JSON logs at INFO, "
        "`IDP_RATELIMIT_LOGIN_PER_IP` raised (all traffic comes from 127.0.0.1). "
        + _recycling(logs.get("worker_boots"), st["workers"]),
        f"- PostgreSQL {m['postgresql']} at 127.0.0.1:5432 (a schema created for the run and "
        f"dropped after), Redis {m['redis']} at 127.0.0.1:6379 (rate-limit counters and flow "
        "state, under a key prefix deleted after).",
        f"- Data: {_fmt(setup['accounts'])} accounts COPYed in bulk, all with one precomputed "
        "argon2id hash of a known password (bench/bulk.py's rows); one confidential client "
        "(`client_secret_basic`, pairwise subjects, RS256 ID tokens, scope `openid profile "
        "email offline_access`).",
        f"- Load: locust {pk.get('locust')} headless from Python (`locust.env.Environment`, "
        f"local runner), {'FastHttpUser (geventhttpclient)' if st['client'] == 'fasthttp' else 'HttpUser (requests)'}, "  # noqa: E501
        f"{st['users']} simulated users, "
        + ("no think time (each user sends its next request as soon as the previous answer "
           "arrives: the provider is saturated, and latency includes queueing)"
           if not st["think_ms"] else f"think time uniform in 0–{2 * st['think_ms']} ms")
        + f", {_fmt(st['warmup_s'], 0)} s warm-up (counted for errors, not for rates or "
        f"latency) then {_fmt(st['duration_s'], 0)} s measured, request timeout "
        f"{st['timeout_s']} s, no retries.",
        "- Each simulated user is a browser with its cookie jar and the tokens its relying "
        "party holds. It starts logged in; then picks, each time, login 15 % (a new browser "
        "logs in with a random account through the hosted pages), SSO flow 45 % (with the "
        "existing session: authorize → code → token → userinfo), refresh 20 % (the latest "
        "rotated refresh token), userinfo 20 % (the latest access token).",
        "- Every answer is checked: status and `Location`; `state` and `iss` on the "
        "redirect; access, ID and refresh tokens in every token response; the ID token's "
        "`iss`, `aud`, `nonce`; the same `sub` in every ID token and userinfo answer of a "
        "session; the refresh token rotated. Anything else, a timeout or a connection error "
        "counts as an error.",
    ]
    quiet = report.get("quiet_wait")
    if quiet:
        lines.append(
            f"- The load started after waiting {_fmt(quiet['waited_s'], 0)} s for other "
            f"processes on the machine to go quiet (they used {quiet['other_cores']:.2f} "
            "cores in the last 2 s before the start)."
        )
    if metrics.get("logins") or metrics.get("tokens_issued"):
        lines.append(
            "- The provider's own counters (whole run, warm-up included): logins "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(metrics["logins"].items()))
            + "; tokens issued "
            + ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(metrics["tokens_issued"].items()))
            + "."
        )
    lines += [
        "",
        "## Machine and versions",
        "",
        f"- {m['cores']} cores, {m['cpu_model']}"
        + (f" at {m['cpu_mhz']:.0f} MHz" if m.get("cpu_mhz") else "")
        + (" (virtualised)" if m.get("virtualised") else "")
        + f", {m['memory_gib']} GiB, Linux {m['kernel']}.",
        f"- Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(pk.items())) + ".",
        "",
    ]
    errors = load["errors"]
    if errors["count"] or errors["unhandled_exceptions"] or logs.get("server_log_problems") \
            or s["access_log_5xx"]:
        lines += ["## Errors", ""]
        for kind, count in errors["by_kind"].items():
            lines.append(f"- {count} × {kind}")
        seen = set()
        for row in errors["first"]:
            key = (row.get("operation"), row.get("request"), row.get("problem"))
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"  - e.g. {row.get('operation')}: `{row.get('request')}` → "
                         f"{row.get('problem')}"
                         + (f", Location `{row['location']}`" if row.get("location") else "")
                         + (f"; answer: {row['body'][:300]}" if row.get("body") else ""))
        for row in errors.get("unhandled_exceptions", []):
            lines.append(f"- {row['count']} × unhandled exception in the generator: "
                         f"{row['msg'][:300]}")
        for line in logs.get("server_log_problem_lines", [])[:5]:
            lines.append(f"- provider log: `{line[:300]}`")
        for line in logs.get("access_log_5xx", [])[:5]:
            lines.append(f"- access log: `{line}`")
        lines.append("")
    lines += [
        "## Running it",
        "",
        "```",
        "make loadtest                         # pip install -e '.[bench]' (locust), then:",
        ".venv/bin/python -m bench.loadtest    # 180 s measured, 16 users, 2 workers: ~4 min",
        "                                      # (+ up to --quiet-wait 300 s for a quiet machine)",
        ".venv/bin/python -m bench.loadtest --quick   # 20 s smoke run, "
        "writes bench/.work/loadtest.md",
        ".venv/bin/python -m bench.loadtest --duration 600 --users 32 --workers 3 "
        "--accounts 20000",
        "```",
        "",
        "It needs PostgreSQL (`BENCH_PG_URL`, default `postgresql://postgres@127.0.0.1:5432/"
        "test`) and Redis (`BENCH_REDIS_URL`, default `redis://127.0.0.1:6379/0`); all "
        "traffic stays on 127.0.0.1, and the run stops by itself. The JSON report goes to "
        "standard output and to `bench/.work/loadtest.json`; the exit status is 1 when any "
        "error happened.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=None,
                        help="measured seconds (default 180; 20 with --quick)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the measured window (default 15; 3 with --quick)")
    parser.add_argument("--users", type=int, default=None,
                        help="simulated users (default 16; 8 with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--accounts", type=int, default=None,
                        help="accounts inserted (default 2000; 200 with --quick)")
    parser.add_argument("--think-ms", type=int, default=0,
                        help="mean pause between a user's operations (default 0)")
    parser.add_argument("--client", choices=("fasthttp", "requests"), default="fasthttp",
                        help="locust's FastHttpUser (default) or HttpUser")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds before a request counts as timed out (default 30)")
    parser.add_argument("--quiet-wait", type=float, default=None,
                        help="wait at most this long for other processes to go quiet before "
                             "the load starts (default 300; 0 with --quick)")
    parser.add_argument("--max-requests", type=int, default=None,
                        help="override gunicorn's max_requests (idp/gunicorn_conf.py: 20000) "
                             "to recycle workers often under load")
    parser.add_argument("--quick", action="store_true", help="smoke run (~1 min)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown report (default docs/loadtest.md; "
                             "bench/.work/loadtest.md with --quick or under 120 s)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.duration = args.duration if args.duration is not None else (20.0 if quick else 180.0)
    args.warmup = args.warmup if args.warmup is not None else (3.0 if quick else 15.0)
    args.users = args.users if args.users is not None else (8 if quick else 16)
    args.accounts = args.accounts if args.accounts is not None else (200 if quick else 2000)
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if quick else 300.0
    if args.users < 1 or args.workers < 1 or args.accounts < 1 or args.duration <= 0:
        parser.error("users, workers, accounts and duration must be positive")
    try:
        metadata.version("locust")
    except metadata.PackageNotFoundError:
        print("locust is not installed: .venv/bin/pip install locust", file=sys.stderr)
        return 2
    # docs/loadtest.md only ever holds a run of several minutes.
    output = args.output or (WORK_DIR / "loadtest.md" if quick or args.duration < 120 else DOC)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "loadtest.json").write_text(json.dumps(report, indent=1, default=str))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown(report))
    log(f"report written to {output}")
    brief = {k: v for k, v in report.items() if k not in ("load",)}
    brief["load"] = {k: v for k, v in report["load"].items() if k != "timeline"}
    print(json.dumps(brief, indent=1, default=str))
    return 0 if report["summary"]["zero_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
