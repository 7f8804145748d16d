"""Where the server's CPU goes: cProfile inside the gunicorn worker during the flows.

    python -m bench.profile sso [--count 300] [--engine sqlite|postgresql] [--top 40]
    python -m bench.profile login|discovery|jwks

The provider runs as in the benchmarks (gunicorn, 1 sync worker, temporary database)
but through bench/profiled_wsgi.py; the statistics are written to
bench/.work/profile-<what>-<engine>.prof and the top functions printed (cumulative and
own time). Profiling slows Python code down: read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import io
import pstats

import requests

from bench.common import WORK_DIR
from bench.flows import RelyingParty
from bench.instance import IDENTIFIER
from bench.instance import PASSWORD
from bench.instance import REDIRECT_URI
from bench.instance import SCOPE
from bench.instance import Instance


def main(argv=None) -> int:
    """Profile one kind of request loop and print the statistics."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("what", choices=["sso", "login", "discovery", "jwks"])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    out = WORK_DIR / f"profile-{args.what}-{args.engine}.prof"
    with Instance(args.engine, label="profile",
                  extra_env={"BENCH_PROFILE_OUT": str(out)}) as inst:
        inst.prepare()
        inst.start("bench.profiled_wsgi:app")
        rp = RelyingParty(inst.base, inst.client_id, inst.client_secret, REDIRECT_URI, SCOPE)
        count = max(1, min(args.count, 5000))
        if args.what == "sso":
            rp.hosted_login(IDENTIFIER, PASSWORD)
            for _ in range(10):
                rp.sso_flow()
        requests.get(f"{inst.base}/__profile/dump", timeout=30)
        for _ in range(count):
            if args.what == "sso":
                rp.sso_flow()
            elif args.what == "login":
                rp.hosted_login(IDENTIFIER, PASSWORD, browser=requests.Session())
            elif args.what == "discovery":
                requests.get(f"{inst.base}/.well-known/openid-configuration", timeout=10)
            else:
                requests.get(f"{inst.base}/jwks", timeout=10)
        requests.get(f"{inst.base}/__profile/dump", timeout=30)
    for sort in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(str(out), stream=buf)
        stats.strip_dirs().sort_stats(sort).print_stats(args.top)
        print(f"==== {args.what} x{count} ({args.engine}), sorted by {sort}")
        print(buf.getvalue())
    print(f"statistics saved to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
