"""Measurement loops: bounded, sequential, with the server's CPU read from /proc.

A measurement is split in rounds. When two things are compared (our provider and
node-oidc-provider, a login and an argon2id verify) their rounds are interleaved, so
that a change of the machine's speed or of other processes' load during the run weighs
on both sides alike; the ratio is then the median of the rounds' ratios.
"""

from __future__ import annotations

import time

import requests

from bench.common import CpuMeter
from bench.common import median
from bench.flows import RelyingParty


def sso_round(rp: RelyingParty, server_pids, per: int, db_pids=None) -> dict:
    """per SSO flows; CPU per flow of the server processes (and database backends)."""
    meter = CpuMeter(server_pids)
    dbmeter = CpuMeter(db_pids) if db_pids else None
    if dbmeter:
        dbmeter.start()
    meter.start()
    t0 = time.perf_counter()
    for _ in range(per):
        rp.sso_flow()
    wall = time.perf_counter() - t0
    meter.stop()
    if dbmeter:
        dbmeter.stop()
    return {
        "n": per, "wall": wall, "stat": meter.stat / per * 1000,
        "sched": meter.sched / per * 1000,
        "db": dbmeter.stat / per * 1000 if dbmeter else None,
        "db_sched": dbmeter.sched / per * 1000 if dbmeter else None,
    }


class _PairedMeter:
    """Start and stop the server meter and the database backends' meter together."""

    def __init__(self, meter: CpuMeter, db_pids):
        self.meter = meter
        self.db = CpuMeter(db_pids) if db_pids else None

    def start(self):
        if self.db:
            self.db.start()
        self.meter.start()

    def stop(self):
        self.meter.stop()
        if self.db:
            self.db.stop()


def login_round(rp: RelyingParty, identifier: str, password: str, server_pids, per: int,
                db_pids=None) -> dict:
    """per full password logins by new browsers: GET /login + POST /login.

    Each login starts with GET /authorize without a session (to get a pending flow);
    that request is outside the measured interval, which covers only the login page
    and the form post up to its redirect.
    """
    meter = CpuMeter(server_pids)
    paired = _PairedMeter(meter, db_pids)
    t0 = time.perf_counter()
    for _ in range(per):
        rp.hosted_login(identifier, password, meter=paired, browser=requests.Session())
    wall = time.perf_counter() - t0
    return {
        "n": per, "wall": wall, "stat": meter.stat / per * 1000,
        "sched": meter.sched / per * 1000,
        "db": paired.db.stat / per * 1000 if paired.db else None,
        "db_sched": paired.db.sched / per * 1000 if paired.db else None,
    }


class Argon2:
    """argon2id verify with the configured parameters, in this process."""

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int):
        from argon2 import PasswordHasher
        from argon2 import Type

        self.params = f"m={memory_kib} KiB, t={time_cost}, p={parallelism}"
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
            hash_len=32, salt_len=16, type=Type.ID,
        )
        self.password = "Bench-Password-2026"  # noqa: S105 - measured, never stored
        self.digest = self.hasher.hash(self.password)
        for _ in range(3):
            self.hasher.verify(self.digest, self.password)

    def round(self, per: int) -> dict:
        """per verifies; CPU (time.process_time) and wall per verify."""
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(per):
            self.hasher.verify(self.digest, self.password)
        cpu = time.process_time() - c0
        wall = time.perf_counter() - t0
        return {"n": per, "wall": wall, "stat": cpu / per * 1000, "sched": cpu / per * 1000,
                "db": None, "wall_ms": wall / per * 1000}


def summary(rounds: list[dict]) -> dict:
    """Median CPU per unit over rounds, with the rounds listed."""
    count = sum(r["n"] for r in rounds)
    wall = sum(r["wall"] for r in rounds)
    result = {
        "count": count,
        "rounds": len(rounds),
        "cpu_ms": round(median([r["stat"] for r in rounds]), 3),
        "cpu_ms_min": round(min(r["stat"] for r in rounds), 3),
        "cpu_ms_rounds": [round(r["stat"], 3) for r in rounds],
        "cpu_ms_schedstat": round(median([r["sched"] for r in rounds]), 3),
        "wall_s": round(wall, 2),
        "per_s": round(count / wall, 1) if wall else None,
    }
    if rounds and rounds[0].get("db") is not None:
        result["db_backend_cpu_ms"] = round(median([r["db"] for r in rounds]), 3)
        result["cpu_ms_with_db"] = round(median([r["stat"] + r["db"] for r in rounds]), 3)
        result["cpu_ms_with_db_schedstat"] = round(median([total(r) for r in rounds]), 3)
    if rounds and "wall_ms" in rounds[0]:
        result["wall_ms"] = round(median([r["wall_ms"] for r in rounds]), 3)
    return result


def total(r: dict) -> float:
    """CPU per unit of one round, database backends included, at the scheduler's
    nanosecond resolution (a round of a few logins is only a few 10 ms clock ticks)."""
    return r["sched"] + (r.get("db_sched") or 0.0)


def interleaved(rounds: int, tasks: dict) -> dict[str, list[dict]]:
    """Run each task's round in turn, `rounds` times; tasks map a name to a callable."""
    results: dict[str, list[dict]] = {name: [] for name in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            results[name].append(task())
    return results


def ratios(ours: list[dict], theirs: list[dict], with_db: bool = True) -> dict:
    """Per-round ratios of CPU per unit (schedstat; database backends included unless
    with_db is false) and their median."""
    cost = total if with_db else (lambda r: r["sched"])
    values = [cost(a) / cost(b) for a, b in zip(ours, theirs, strict=True) if cost(b) > 0]
    return {
        "ratio": round(median(values), 3) if values else None,
        "ratio_rounds": [round(v, 3) for v in values],
    }


def sso_flows(rp: RelyingParty, server_pids, n: int, rounds: int, warmup: int,
              db_pids=None) -> dict:
    """`rounds` rounds of n/rounds SSO flows after a warm-up; the summary."""
    for _ in range(warmup):
        rp.sso_flow()
    per = max(1, n // rounds)
    return summary([sso_round(rp, server_pids, per, db_pids) for _ in range(rounds)])


def logins(rp: RelyingParty, identifier: str, password: str, server_pids, n: int,
           rounds: int, warmup: int, db_pids=None) -> dict:
    """`rounds` rounds of n/rounds logins after a warm-up; the summary."""
    for _ in range(warmup):
        rp.hosted_login(identifier, password, browser=requests.Session())
    per = max(1, n // rounds)
    return summary([
        login_round(rp, identifier, password, server_pids, per, db_pids) for _ in range(rounds)
    ])
