"""The benchmark sections. Each returns a JSON-ready dict with a "status" of ok,
skipped or error (with the reason), and the measured numbers."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import bulk
from bench import load
from bench import measure
from bench import node_runner
from bench.common import BENCH_DIR
from bench.common import ROOT
from bench.common import VENV_BIN
from bench.common import BenchError
from bench.common import CpuMeter
from bench.common import children
from bench.common import free_port
from bench.common import median
from bench.common import stop_process
from bench.common import wait_http
from bench.flows import RelyingParty
from bench.instance import IDENTIFIER
from bench.instance import PASSWORD
from bench.instance import PG_URL
from bench.instance import REDIRECT_URI
from bench.instance import SCOPE
from bench.instance import Instance
from bench.instance import pg_reachable


@dataclass
class Settings:
    """Sizes of the loops; --quick makes them small."""

    sso_flows: int = 1500
    node_flows: int = 1000
    rounds: int = 5
    pair_rounds: int = 10
    warmup: int = 30
    logins: int = 240
    static_seconds: float = 12.0
    static_slices: int = 4
    static_connections: int = 4
    scale_small: int = 10_000
    scale_large: int = 1_000_000
    scale_logins: int = 100
    scale_flows: int = 600
    import_timeout: int = 900
    quick: bool = False

    @classmethod
    def smoke(cls) -> Settings:
        """A smoke run: every section, tiny loops."""
        return cls(
            sso_flows=60, node_flows=60, pair_rounds=3, warmup=5, logins=9,
            static_seconds=2.0, static_slices=2, scale_small=1_000, scale_large=20_000,
            scale_logins=6, scale_flows=30, quick=True,
        )


def log(message: str) -> None:
    """Progress on stderr (stdout carries the JSON summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def engines() -> tuple[list[str], dict]:
    """The database engines to measure: SQLite, and PostgreSQL when it answers."""
    ok, info = pg_reachable()
    return (["sqlite", "postgresql"] if ok else ["sqlite"]), {
        "postgresql_reachable": ok, "postgresql_info": info, "postgresql_url": PG_URL,
    }


def _guard(fn):
    """Turn a failure into a reported error instead of a crash of the whole run."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BenchError as exc:
            log(f"{fn.__name__}: {exc}")
            return {"status": "error", "reason": str(exc)}

    wrapper.__name__ = fn.__name__
    return wrapper


def _logged_in(inst: Instance) -> RelyingParty:
    rp = RelyingParty(inst.base, inst.client_id, inst.client_secret, REDIRECT_URI, SCOPE)
    rp.hosted_login(IDENTIFIER, PASSWORD)
    return rp


# -- 1. SSO code flow -----------------------------------------------------------------------


@_guard
def sso(settings: Settings) -> dict:
    """Server CPU per SSO flow (authorize with a session → token → userinfo)."""
    names, info = engines()
    result = {"status": "ok", **info, "engines": {}}
    for engine in names:
        log(f"sso: {engine}, {settings.sso_flows} flows")
        with Instance(engine, label="sso") as inst:
            inst.prepare()
            inst.start()
            rp = _logged_in(inst)
            db_pids = inst.db_backend_pids if engine == "postgresql" else None
            result["engines"][engine] = measure.sso_flows(
                rp, inst.server_pids, settings.sso_flows, settings.rounds, settings.warmup,
                db_pids=db_pids,
            )
    return result


# -- 2. node-oidc-provider ------------------------------------------------------------------


@_guard
def node(settings: Settings) -> dict:
    """The same SSO flow against node-oidc-provider, CPU of the node process, in rounds
    interleaved with ours (SQLite, and PostgreSQL when it answers). For context, a second
    node process keeps its state in Redis (when Redis answers), with the Redis server's
    CPU measured apart."""
    log("node: npm install oidc-provider@9 and ioredis into bench/.work/node")
    version = node_runner.install()
    names, info = engines()
    server = node_runner.NodeProvider()
    redis_run = _RedisRun()
    instances = {}
    floor_dir = Path(tempfile.mkdtemp(prefix="idp-floor-"))
    floor = FloorServer(floor_dir)
    try:
        server.start()
        floor.start()
        node_rp = server.relying_party()
        close_rp = server.relying_party()
        close_rp.close_connections()
        redis_rp = redis_run.start()
        tasks = {}
        per = max(1, settings.node_flows // settings.pair_rounds)
        for engine in names:
            inst = instances[engine] = Instance(engine, label="pair")
            inst.prepare()
            inst.start()
            rp = _logged_in(inst)
            db_pids = inst.db_backend_pids if engine == "postgresql" else None
            tasks[engine] = _sso_task(rp, inst.server_pids, per, db_pids)
        tasks["node"] = _sso_task(node_rp, server.pids, per)
        tasks["node_close"] = _sso_task(close_rp, server.pids, per)
        floor_rp = floor.relying_party()
        tasks["floor"] = _sso_task(floor_rp, floor.pids, per)
        if redis_rp is not None:
            # Redis CPU during the other rounds (nobody of ours talks to Redis then) is
            # the shared server's background: its own timers and other clients.
            tasks = {name: redis_run.watch(task) for name, task in tasks.items()}
            tasks["node_redis"] = redis_run.task(redis_rp, per)
        log(f"node: oidc-provider {version}; {settings.pair_rounds} interleaved rounds of "
            f"{per} flows on {', '.join(tasks)}")
        for rp_ in [node_rp, close_rp, floor_rp] + ([redis_rp] if redis_rp else []):
            for _ in range(settings.warmup * 2):
                rp_.sso_flow()
        if redis_rp is not None:
            redis_run.idle_check()
        rounds = measure.interleaved(settings.pair_rounds, tasks)
        warnings = server.warnings()
        redis_run.collect_warnings()
    finally:
        server.stop()
        floor.stop()
        shutil.rmtree(floor_dir, ignore_errors=True)
        redis_run.stop()
        for inst in instances.values():
            inst.cleanup()
    result = {
        "status": "ok", "oidc_provider": version, "node": node_runner.node_version(),
        "warnings": warnings, **info, **measure.summary(rounds["node"]),
        "connection_close": measure.summary(rounds["node_close"]), "ours": {},
        "redis": redis_run.result(rounds),
        "floor": {**measure.summary(rounds["floor"]),
                  **measure.ratios(rounds["floor"], rounds["node"])},
    }
    for engine in names:
        result["ours"][engine] = {
            **measure.summary(rounds[engine]),
            **measure.ratios(rounds[engine], rounds["node"]),
            "ratio_to_close": measure.ratios(rounds[engine], rounds["node_close"])["ratio"],
        }
        if "node_redis" in rounds:
            with_redis = measure.ratios(rounds[engine], rounds["node_redis"])
            result["ours"][engine]["ratio_to_redis"] = with_redis["ratio"]
            result["ours"][engine]["ratio_to_redis_rounds"] = with_redis["ratio_rounds"]
            result["ours"][engine]["ratio_to_redis_node_only"] = _ratio_node_only(
                rounds[engine], rounds["node_redis"])
    return result


class _RedisRun:
    """node-oidc-provider with the Redis adapter (context row of the node section): its
    own key prefix on the shared Redis server, deleted at the end; skipped with a reason
    when Redis does not answer or ioredis is not installed."""

    def __init__(self):
        self.srv = None
        self.server = None
        self.prefix = "bench-node-oidc-" + secrets.token_hex(6) + ":"
        self.reason = None
        self.data = {"prefix": self.prefix, "url": node_runner.REDIS_URL}

    def start(self):
        """Start the node+Redis process; its logged-in relying party, or None (skipped)."""
        if not node_runner.package_version("ioredis"):
            self.reason = "ioredis is not installed in bench/.work/node" + (
                f" ({node_runner.INSTALL_ERRORS[-1]})" if node_runner.INSTALL_ERRORS else "")
            return None
        self.srv, self.reason = node_runner.redis_server()
        if self.srv is None:
            return None
        self.data.update({"version": self.srv.version, "pid": self.srv.pid,
                          "ioredis": node_runner.package_version("ioredis"),
                          "before": self.srv.stats()})
        self.server = node_runner.NodeProvider(redis_prefix=self.prefix)
        try:
            self.server.start()
            return self.server.relying_party()
        except (BenchError, requests.RequestException) as exc:
            self.reason = f"node-oidc-provider with Redis did not start or log in: {exc}"
            log(f"node: {self.reason}")
            self.server.stop()
            self.server = None
            return None

    def task(self, rp, per):
        """A round on the node+Redis process: CPU of node, and of redis-server as the
        'database' column; Redis commands per flow from INFO, read outside the meter."""
        srv = self.srv

        def run():
            c0 = srv.stats()["commands"]
            r = measure.sso_round(rp, self.server.pids, per, srv.pids if srv.pid else None)
            r["redis_commands"] = srv.stats()["commands"] - c0 - 1
            return r

        return run

    def watch(self, task):
        """The Redis server's CPU and commands during another server's round."""

        def run():
            meter = CpuMeter(self.srv.pids)
            c0 = self.srv.stats()["commands"]
            meter.start()
            t0 = time.perf_counter()
            r = task()
            wall = time.perf_counter() - t0
            meter.stop()
            r["redis_bg"] = {"cpu_s": meter.sched, "wall_s": wall,
                             "commands": self.srv.stats()["commands"] - c0 - 1}
            return r

        return run

    def idle_check(self, seconds: float = 2.0):
        """Redis CPU and commands over a short pause before the rounds."""
        meter = CpuMeter(self.srv.pids)
        c0 = self.srv.stats()["commands"]
        meter.start()
        time.sleep(seconds)
        meter.stop()
        self.data["idle"] = {
            "cpu_ms_per_s": round(meter.sched / seconds * 1000, 3),
            "commands_per_s": round((self.srv.stats()["commands"] - c0 - 1) / seconds, 1),
        }

    def collect_warnings(self):
        """What the node+Redis process printed."""
        if self.server is not None:
            self.data["warnings"] = self.server.warnings()

    def stop(self):
        """Stop node, then delete this run's keys (never FLUSHDB: Redis is shared)."""
        if self.server is not None:
            self.server.stop()
        if self.srv is None:
            return
        try:
            self.data["keys_deleted"] = self.srv.cleanup(self.prefix)
            self.data["keys_left"] = self.srv.count(self.prefix)
            self.data["after"] = self.srv.stats()
        except Exception as exc:  # noqa: BLE001 - the report says it, the run goes on
            self.data["cleanup_error"] = str(exc)
            log(f"node: Redis cleanup of {self.prefix}*: {exc}")
        finally:
            self.srv.close()

    def result(self, rounds: dict) -> dict:
        """The context row: summary of the node+Redis rounds and the background check."""
        if "node_redis" not in rounds:
            return {"status": "skipped", "reason": self.reason or "not run", **self.data}
        own = rounds["node_redis"]
        bg = [r["redis_bg"] for name, rs in rounds.items() if name != "node_redis"
              for r in rs if "redis_bg" in r]
        bg_cpu = sum(b["cpu_s"] for b in bg)
        bg_wall = sum(b["wall_s"] for b in bg)
        bg_rate = bg_cpu / bg_wall if bg_wall else None
        flows = sum(r["n"] for r in own)
        wall = sum(r["wall"] for r in own)
        out = {
            "status": "ok", **self.data, **measure.summary(own),
            "node_only_schedstat": round(median([r["sched"] for r in own]), 3),
            "redis_cpu_ms_schedstat": round(median([r["db_sched"] or 0.0 for r in own]), 3)
            if self.srv.pid else None,
            "redis_commands_per_flow": round(sum(r["redis_commands"] for r in own) / flows, 1),
            "background": {
                "cpu_ms_per_s": round(bg_rate * 1000, 3) if bg_rate is not None else None,
                "commands_per_s": round(sum(b["commands"] for b in bg) / bg_wall, 1)
                if bg_wall else None,
                # what that background rate would add to one flow of the node+Redis rounds
                "cpu_ms_per_flow": round(bg_rate * wall / flows * 1000, 3)
                if bg_rate is not None and flows else None,
            },
        }
        if not self.srv.pid:
            out["note"] = ("the redis-server process is not visible in /proc (another "
                           "machine or pid namespace): its CPU is not measured")
        return out


def _ratio_node_only(ours: list[dict], theirs: list[dict]) -> float | None:
    """Median per-round ratio of ours (with database backends) to the node process alone
    (Redis server excluded)."""
    values = [measure.total(a) / b["sched"] for a, b in zip(ours, theirs, strict=True)
              if b["sched"] > 0]
    return round(median(values), 3) if values else None


def _sso_task(rp, pids, per, db_pids=None):
    def task():
        return measure.sso_round(rp, pids, per, db_pids)

    return task


# -- 3. password login vs one argon2id verify -----------------------------------------------


@_guard
def login(settings: Settings) -> dict:
    """Server CPU per full password login against one argon2id verify in-process, in
    interleaved rounds."""
    from idp.config import load_defaults

    cfg = load_defaults()
    argon = measure.Argon2(
        cfg["argon2_memory_kib"], cfg["argon2_time_cost"], cfg["argon2_parallelism"]
    )
    names, info = engines()
    result = {"status": "ok", **info, "argon2_params": argon.params, "engines": {}}
    per = max(1, settings.logins // settings.rounds)
    result["floor"] = _floor_logins(settings, argon, per)
    for engine in names:
        log(f"login: {engine}, {settings.rounds} rounds of {per} logins, each followed by "
            f"{per} argon2id verifies in-process")
        with Instance(engine, label="login") as inst:
            inst.prepare()
            inst.start()
            rp = RelyingParty(inst.base, inst.client_id, inst.client_secret, REDIRECT_URI, SCOPE)
            db_pids = inst.db_backend_pids if engine == "postgresql" else None
            for _ in range(3):
                rp.hosted_login(IDENTIFIER, PASSWORD, browser=requests.Session())

            def login_task(rp=rp, inst=inst, db_pids=db_pids):
                return measure.login_round(rp, IDENTIFIER, PASSWORD, inst.server_pids, per,
                                           db_pids)

            rounds = measure.interleaved(settings.rounds, {
                "login": login_task, "argon2": lambda: argon.round(per),
            })
        result["engines"][engine] = {
            **measure.summary(rounds["login"]),
            **measure.ratios(rounds["login"], rounds["argon2"]),
            "argon2": measure.summary(rounds["argon2"]),
        }
    return result


def _floor_logins(settings: Settings, argon: measure.Argon2, per: int) -> dict:
    """The same logins against the stack floor (bench/floor_app.py), interleaved with
    as many verifies."""
    log(f"login: stack floor, {settings.rounds} rounds of {per} logins and verifies")
    with tempfile.TemporaryDirectory(prefix="idp-floor-") as tmp:
        floor = FloorServer(Path(tmp))
        try:
            floor.start()
            rp = floor.relying_party(logged_in=False)
            for _ in range(3):
                rp.hosted_login(IDENTIFIER, PASSWORD, browser=requests.Session())
            rounds = measure.interleaved(settings.rounds, {
                "login": _login_task(rp, floor.pids, per), "argon2": lambda: argon.round(per),
            })
        finally:
            floor.stop()
    return {**measure.summary(rounds["login"]), **measure.ratios(rounds["login"],
                                                                 rounds["argon2"]),
            "argon2": measure.summary(rounds["argon2"])}


# -- 4. discovery and JWKS vs a bare Flask endpoint -------------------------------------------


class BareServer:
    """A baseline app of the benchmark under gunicorn with the provider's settings (1 sync
    worker): bench/bare_app.py by default, or bench/floor_app.py (the stack floor)."""

    def __init__(self, bare_dir: Path, app_module: str = "bench.bare_app:app",
                 ready_path: str = "/bare", env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.bare_dir = bare_dir
        self.app_module = app_module
        self.ready_path = ready_path
        self.extra_env = env or {}
        self.proc = None
        self.worker = None

    def start(self):
        """Start gunicorn with the app."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env["BENCH_BARE_DIR"] = str(self.bare_dir)
        env.update(self.extra_env)
        cmd = [
            str(VENV_BIN / "python"), "-m", "gunicorn", self.app_module,
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "sync",
            "--timeout", "120",
        ]
        log_path = self.bare_dir / f"{self.app_module.split(':')[0]}.log"
        with log_path.open("wb") as fh:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_http(f"{self.base}{self.ready_path}", self.proc, log=log_path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(children(self.proc.pid)) != 1:
            time.sleep(0.1)
        self.worker = children(self.proc.pid)[0]

    def pids(self):
        """The worker."""
        return [self.worker]

    def stop(self):
        """Stop gunicorn."""
        stop_process(self.proc)


class FloorServer(BareServer):
    """bench/floor_app.py: the SSO flow and the login with nothing but gunicorn, Flask,
    one RS256 signature and one argon2id verify (the provider's parameters)."""

    def __init__(self, tmp: Path):
        from idp.config import load_defaults

        cfg = load_defaults()
        params = f"{cfg['argon2_memory_kib']},{cfg['argon2_time_cost']},"\
                 f"{cfg['argon2_parallelism']}"
        super().__init__(tmp, "bench.floor_app:app", "/healthz",
                         {"BENCH_FLOOR_ARGON2": params})

    def relying_party(self, logged_in: bool = True) -> RelyingParty:
        """The benchmark's relying party on the floor app, its browser logged in."""
        from bench import floor_app

        rp = RelyingParty(self.base, floor_app.CLIENT_ID, floor_app.CLIENT_SECRET,
                          REDIRECT_URI, SCOPE)
        if logged_in:
            rp.hosted_login(IDENTIFIER, PASSWORD)
        return rp


@_guard
def static(settings: Settings) -> dict:
    """Requests/s of discovery and JWKS against the same JSON from a bare Flask app."""
    gen = load.generator()
    result = {"status": "ok", "generator": gen, "seconds": settings.static_seconds,
              "slices": settings.static_slices, "connections": settings.static_connections,
              "endpoints": {}}
    with Instance("sqlite", label="static") as inst, \
            tempfile.TemporaryDirectory(prefix="idp-bare-") as tmp:
        inst.prepare()
        inst.start()
        bare_dir = Path(tmp)
        disc = requests.get(f"{inst.base}/.well-known/openid-configuration", timeout=10)
        jwks = requests.get(f"{inst.base}/jwks", timeout=10)
        disc.raise_for_status()
        jwks.raise_for_status()
        (bare_dir / "discovery.json").write_text(disc.text)
        (bare_dir / "jwks.json").write_text(jwks.text)
        result["bytes"] = {"discovery": len(disc.content), "jwks": len(jwks.content)}
        bare = BareServer(bare_dir)
        bare.start()
        try:
            pairs = {
                "discovery": (f"{inst.base}/.well-known/openid-configuration",
                              f"{bare.base}/discovery-copy"),
                "jwks": (f"{inst.base}/jwks", f"{bare.base}/jwks-copy"),
            }
            # Warm both servers, then alternate app / bare in short slices, so that a
            # change of the machine's speed or of other processes' load during the run
            # hits both sides alike; the ratio is the median of the slices' ratios.
            for app_url, bare_url in pairs.values():
                load.run(app_url, 1, settings.static_connections, inst.server_pids)
                load.run(bare_url, 1, settings.static_connections, bare.pids)
            slices = settings.static_slices
            slice_s = max(1.0, settings.static_seconds / slices)
            for name, (app_url, bare_url) in pairs.items():
                log(f"static: {name} ({gen}), {slices} x ({slice_s:.0f} s app + "
                    f"{slice_s:.0f} s bare)")
                app_runs, bare_runs = [], []
                for _ in range(slices):
                    app_runs.append(load.run(app_url, slice_s, settings.static_connections,
                                             inst.server_pids))
                    bare_runs.append(load.run(bare_url, slice_s, settings.static_connections,
                                              bare.pids))
                ratios = [a["requests_per_s"] / b["requests_per_s"]
                          for a, b in zip(app_runs, bare_runs, strict=True)]
                result["endpoints"][name] = {
                    "app": _combine(app_runs), "bare": _combine(bare_runs),
                    "slice_ratios": [round(r, 3) for r in ratios],
                    "ratio": round(median(ratios), 3),
                }
            log("static: bare /bare (small constant JSON, for reference)")
            result["bare_small"] = load.run(f"{bare.base}/bare", slice_s,
                                            settings.static_connections, bare.pids)
        finally:
            bare.stop()
    for data in result["endpoints"].values():
        a = data["app"]["server_cpu_us_per_request"]
        b = data["bare"]["server_cpu_us_per_request"]
        data["cpu_ratio"] = round(a / b, 3) if a and b else None
    return result


def _combine(runs: list[dict]) -> dict:
    first = dict(runs[0])
    total = sum(r["requests"] for r in runs)
    first["requests"] = total
    first["requests_per_s"] = round(sum(r["requests_per_s"] for r in runs) / len(runs), 1)
    first["runs_requests_per_s"] = [r["requests_per_s"] for r in runs]
    cpu = sum(r["server_cpu_s"] for r in runs)
    first["server_cpu_s"] = round(cpu, 2)
    first["server_cpu_us_per_request"] = round(cpu / total * 1e6, 1) if total else None
    first["server_cpu_us_per_request_schedstat"] = round(
        sum(r["server_cpu_us_per_request_schedstat"] * r["requests"] for r in runs) / total, 1
    ) if total else None
    first["non_2xx"] = sum(r["non_2xx"] for r in runs)
    first["socket_errors"] = sum(r["socket_errors"] for r in runs)
    return first


# -- 5. scale: 10,000 vs 1,000,000 accounts ---------------------------------------------------


@_guard
def scale(settings: Settings) -> dict:
    """Login and SSO CPU with few accounts and with many, on each engine."""
    from idp.config import load_defaults

    cfg = load_defaults()
    filler_hash = bulk.fake_hash(
        cfg["argon2_memory_kib"], cfg["argon2_time_cost"], cfg["argon2_parallelism"]
    )
    names, info = engines()
    result = {"status": "ok", **info, "sizes": [settings.scale_small, settings.scale_large],
              "engines": {}}
    for engine in names:
        result["engines"][engine] = _scale_engine(engine, settings, filler_hash)
    return result


def _scale_engine(engine: str, settings: Settings, filler_hash: str) -> dict:
    """Two databases of the same engine, one per size, served side by side; rounds of
    logins and of SSO flows alternate between them."""
    sizes = (settings.scale_small, settings.scale_large)
    data = {"sizes": {}}
    instances = {size: Instance(engine, label=f"scale{size}") for size in sizes}
    try:
        for size, inst in instances.items():
            inst.prepare()
            log(f"scale: {engine}, inserting {size - 1:,} accounts")
            if engine == "sqlite":
                seconds = bulk.insert_sqlite(inst.db_path, 1, size, filler_hash)
                count = bulk.count_sqlite(inst.db_path)
            else:
                seconds = bulk.insert_pg(PG_URL, inst.schema, 1, size, filler_hash)
                count = bulk.count_pg(PG_URL, inst.schema)
            data["sizes"][str(size)] = {
                "accounts": count, "inserted": size - 1, "insert_s": round(seconds, 1),
                "insert_rows_per_s": round((size - 1) / seconds) if seconds else None,
            }
        tasks = {}
        per_login = max(1, settings.scale_logins // settings.pair_rounds)
        per_flow = max(1, settings.scale_flows // settings.pair_rounds)
        for size, inst in instances.items():
            inst.start()
            db_pids = inst.db_backend_pids if engine == "postgresql" else None
            login_rp = RelyingParty(inst.base, inst.client_id, inst.client_secret,
                                    REDIRECT_URI, SCOPE)
            for _ in range(3):
                login_rp.hosted_login(IDENTIFIER, PASSWORD, browser=requests.Session())
            sso_rp = _logged_in(inst)
            for _ in range(settings.warmup):
                sso_rp.sso_flow()
            tasks[f"login_{size}"] = _login_task(login_rp, inst.server_pids, per_login, db_pids)
            tasks[f"sso_{size}"] = _sso_task(sso_rp, inst.server_pids, per_flow, db_pids)
        log(f"scale: {engine}, {settings.pair_rounds} interleaved rounds of {per_login} "
            f"logins and {per_flow} SSO flows on each size")
        rounds = measure.interleaved(settings.pair_rounds, tasks)
    finally:
        for inst in instances.values():
            inst.cleanup()
    small, large = sizes
    for what in ("login", "sso"):
        for size in sizes:
            data["sizes"][str(size)][what] = measure.summary(rounds[f"{what}_{size}"])
        paired = measure.ratios(rounds[f"{what}_{large}"], rounds[f"{what}_{small}"],
                                with_db=False)
        data[f"{what}_ratio"] = paired["ratio"]
        data[f"{what}_ratio_rounds"] = paired["ratio_rounds"]
        if engine == "postgresql":
            paired = measure.ratios(rounds[f"{what}_{large}"], rounds[f"{what}_{small}"])
            data[f"{what}_ratio_with_db"] = paired["ratio"]
            data[f"{what}_ratio_with_db_rounds"] = paired["ratio_rounds"]
    return data


def _login_task(rp, pids, per, db_pids=None):
    def task():
        return measure.login_round(rp, IDENTIFIER, PASSWORD, pids, per, db_pids)

    return task


# -- 6. SIECLE import (bench/bench_import.py, written by another module's owner) ----------------


@_guard
def siecle_import(settings: Settings) -> dict:
    """Call bench/bench_import.py's run(report) in a fresh process, when it exists."""
    if not (BENCH_DIR / "bench_import.py").exists():
        return {"status": "skipped", "reason": "bench/bench_import.py does not exist yet"}
    with tempfile.TemporaryDirectory(prefix="idp-import-") as tmp:
        out = Path(tmp) / "import.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        if settings.quick:
            env["BENCH_QUICK"] = "1"
        log("import: bench/bench_import.py run(report) in a fresh process")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [str(VENV_BIN / "python"), "-m", "bench.import_runner", str(out)],
                cwd=ROOT, env=env, capture_output=True, text=True,
                timeout=settings.import_timeout,
            )
        except subprocess.TimeoutExpired:
            return {"status": "error",
                    "reason": f"bench_import did not finish within {settings.import_timeout} s"}
        wall = time.perf_counter() - t0
        if not out.exists():
            return {"status": "error",
                    "reason": f"import runner exited {proc.returncode}: {proc.stderr[-800:]}"}
        data = json.loads(out.read_text())
    data["process_wall_s"] = round(wall, 1)
    if data.get("status") == "error":
        data["reason"] = (data.get("error") or "")[-800:]
    return data


SECTIONS = {
    "sso": sso,
    "node": node,
    "login": login,
    "static": static,
    "scale": scale,
    "import": siecle_import,
}
