"""Load generation for requests-per-second figures, only to 127.0.0.1, bounded in time.

`wrk` (Debian package `wrk`) when installed; otherwise a small Python generator (raw
sockets, a few processes) that is slower than the servers it measures, which the
report says.
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
import socket
import subprocess
import time
from urllib.parse import urlsplit

from bench.common import BenchError
from bench.common import CpuMeter


def generator() -> str:
    """The load generator that will be used."""
    return "wrk" if shutil.which("wrk") else "python"


def run(url: str, seconds: float, connections: int, server_pids) -> dict:
    """Load url for `seconds`; return requests/s, errors and server CPU per request."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError("load is only sent to the loopback interface")
    meter = CpuMeter(server_pids)
    meter.start()
    if generator() == "wrk":
        result = _wrk(url, seconds, connections)
    else:
        result = _python(url, seconds, connections)
    meter.stop()
    done = result["requests"]
    result["server_cpu_us_per_request"] = (
        round(meter.stat / done * 1e6, 1) if done else None
    )
    result["server_cpu_us_per_request_schedstat"] = (
        round(meter.sched / done * 1e6, 1) if done else None
    )
    result["server_cpu_s"] = round(meter.stat, 2)
    return result


def _wrk(url: str, seconds: float, connections: int) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout
    if out.returncode != 0:
        raise BenchError(f"wrk failed: {out.stderr.strip()[-300:]}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    p50 = re.search(r"50%\s+([\d.]+)(\w+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", text)
    if not rps or not total:
        raise BenchError(f"cannot read wrk output: {text[-400:]}")
    socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
    return {
        "generator": "wrk",
        "requests_per_s": float(rps.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        # With gunicorn's sync worker every response closes its connection; wrk counts
        # the close of a connection it had already reused as a "read" error.
        "socket_errors": socket_errors,
        "socket_read_errors": int(sock.group(2)) if sock else 0,
        "latency_p50": _ms(p50),
        "latency_p99": _ms(p99),
    }


def _ms(match) -> float | None:
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, 1.0), 3)


def _python_worker(host, port, path, deadline, queue):
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    ok = errors = 0
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(request)
                chunks = []
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
            head = b"".join(chunks[:1])[:12]
            if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                ok += 1
            else:
                errors += 1
        except OSError:
            errors += 1
    queue.put((ok, errors))


def _python(url: str, seconds: float, connections: int) -> dict:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    procs = max(1, min(connections, 2))
    queue = multiprocessing.Queue()
    start = time.monotonic()
    deadline = start + seconds
    workers = [
        multiprocessing.Process(
            target=_python_worker, args=(parts.hostname, parts.port, path, deadline, queue)
        )
        for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join(timeout=10)
    elapsed = time.monotonic() - start
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return {
        "generator": f"python ({procs} processes, one connection per request)",
        "requests_per_s": round(ok / elapsed, 1),
        "requests": ok,
        "non_2xx": errors,
        "socket_errors": 0,
        "socket_read_errors": 0,
        "latency_p50": None,
        "latency_p99": None,
    }
