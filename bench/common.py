"""Shared helpers: process CPU from /proc, free ports, waiting for servers, the machine."""

from __future__ import annotations

import datetime
import os
import platform
import re
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

PACKAGES = (
    "flask", "authlib", "joserfc", "cryptography", "sqlalchemy", "flask-sqlalchemy",
    "argon2-cffi", "argon2-cffi-bindings", "gunicorn", "gunicorn-h1c", "psycopg", "werkzeug",
    "jinja2", "requests",
)


class BenchError(RuntimeError):
    """A benchmark could not run; the message says why."""


# -- CPU of a process, read from /proc ---------------------------------------------------


def stat_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        data = fh.read()
    # The command name may hold spaces: fields start after the closing parenthesis.
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sched_cpu(pid: int) -> float:
    """CPU time of a process in seconds with nanosecond resolution (sum over its threads,
    from /proc/<pid>/task/*/schedstat); 0.0 when the kernel does not expose it."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / 1e9


class CpuMeter:
    """Accumulate the CPU time of a set of processes between start() and stop() calls.

    Both counters are kept: utime+stime from /proc/<pid>/stat (clock ticks, the figure
    the performance budget names) and the scheduler's nanosecond runtime
    (/proc/<pid>/task/*/schedstat), a finer cross-check.
    """

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.stat = 0.0
        self.sched = 0.0
        self._start: dict[int, tuple[float, float]] | None = None

    def _read(self) -> dict[int, tuple[float, float]]:
        values = {}
        for pid in self.pids_fn():
            try:
                values[pid] = (stat_cpu(pid), sched_cpu(pid))
            except (FileNotFoundError, ProcessLookupError):
                continue
        return values

    def start(self) -> None:
        """Begin an interval."""
        self._start = self._read()

    def stop(self) -> None:
        """End an interval and add its CPU time (processes born inside count from zero)."""
        end = self._read()
        begin = self._start or {}
        for pid, (st, sc) in end.items():
            b_st, b_sc = begin.get(pid, (0.0, 0.0))
            self.stat += st - b_st
            self.sched += sc - b_sc
        self._start = None


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        if int(data[data.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found


# -- servers ------------------------------------------------------------------------------


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a server process from the project root, its output appended to log."""
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0, log: Path | None = None):
    """Wait until url answers (any status) or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode}: {tail(log)}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise BenchError(f"server did not answer {url} within {timeout:.0f} s: {tail(log)}")


def tail(path: Path | None, lines: int = 15) -> str:
    """Last lines of a log file, for error messages."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Terminate a process we started (by its pid), then kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# -- the machine ---------------------------------------------------------------------------


def machine() -> dict:
    """Describe the machine, the interpreter and the packages the numbers depend on."""
    cpu_model = "unknown"
    flags = ""
    mhz = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and cpu_model == "unknown":
                    cpu_model = value.strip()
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value.strip())
                elif key == "flags" and not flags:
                    flags = value
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    hypervisor = "hypervisor" in flags.split()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model,
        "cpu_mhz": mhz,
        "virtualised": hypervisor,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "packages": versions,
        "node": _cmd_version(["node", "--version"]),
        "postgresql": None,
        "wrk": _cmd_version(["wrk", "--version"], pattern=r"wrk ([\d.]+)"),
        "transparent_hugepage": _read_first("/sys/kernel/mm/transparent_hugepage/enabled"),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }


def _read_first(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.readline().strip()
    except OSError:
        return None


def _cmd_version(cmd: list[str], pattern: str | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or "") + (out.stderr or "")
    if pattern:
        match = re.search(pattern, text)
        return match.group(1) if match else None
    return text.strip().splitlines()[0] if text.strip() else None


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


# -- what else ran on the machine ------------------------------------------------------------


def cpu_snapshot() -> dict[int, tuple[float, int, str]]:
    """CPU seconds, parent pid and command name of every process, from /proc."""
    snap = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        name = data[data.index("(") + 1 : data.rindex(")")]
        fields = data[data.rindex(")") + 2 :].split()
        snap[int(entry)] = ((int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[1]), name)
    return snap


def cmdline(pid: int) -> str:
    """A process's command line, shortened."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:90]
    except OSError:
        return ""


def interference(before: dict, after: dict, wall: float, root: int | None = None) -> dict:
    """CPU used by processes that are neither this benchmark's (its process tree) nor
    PostgreSQL's, between two snapshots: other people's work on the same machine."""
    root = root or os.getpid()
    parents = {pid: v[1] for pid, v in {**before, **after}.items()}
    own = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in own and pid not in own:
                own.add(pid)
                changed = True
    foreign, postgres = {}, 0.0
    for pid, (cpu, _ppid, name) in after.items():
        if pid in own:
            continue
        used = cpu - before.get(pid, (0.0, 0, ""))[0] if pid in before else cpu
        if used <= 0:
            continue
        if name.startswith("postgres"):
            postgres += used
        else:
            foreign[pid] = used
    total = sum(foreign.values())
    top = sorted(foreign.items(), key=lambda kv: -kv[1])[:3]
    return {
        "other_cpu_s": round(total, 1),
        "other_cores": round(total / wall, 2) if wall else None,
        "postgres_cpu_s": round(postgres, 1),
        "top": [f"{cmdline(pid) or after[pid][2]} ({cpu:.1f} s)" for pid, cpu in top
                if cpu >= 0.5],
    }


def wait_quiet(max_wait: float, threshold: float = 0.25,
               window: float = 2.0) -> tuple[float, float]:
    """Wait (at most max_wait seconds) until other processes use under `threshold` cores
    over a `window`; return (seconds waited, cores they used in the last window)."""
    start = time.monotonic()
    while True:
        before = cpu_snapshot()
        time.sleep(window)
        cores = interference(before, cpu_snapshot(), window)["other_cores"] or 0.0
        waited = time.monotonic() - start
        if cores < threshold or waited >= max_wait:
            return waited, cores
