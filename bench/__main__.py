"""`python -m bench`: run the benchmarks, write docs/performance.md, print a JSON summary.

    python -m bench                      # everything (10-15 min), writes docs/performance.md
    python -m bench --quick              # smoke run with tiny loops
    python -m bench --only sso,node      # some sections
    python -m bench --output FILE.md     # write the report elsewhere

Sections: sso, node, login, static, scale, import. Runs with --quick or --only write
bench/.work/performance.md unless --output is given, so that a partial run never
replaces the full report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench import load
from bench import report
from bench.common import ROOT
from bench.common import WORK_DIR
from bench.common import cpu_snapshot
from bench.common import interference
from bench.common import machine
from bench.common import wait_quiet
from bench.sections import SECTIONS
from bench.sections import Settings
from bench.sections import engines
from bench.sections import log
from idp.runtime import server_environ


def parse_args(argv=None):
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny loops, a smoke run")
    parser.add_argument("--only", default="",
                        help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--output", default=None, help="where to write the markdown report")
    args = parser.parse_args(argv)
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in selected if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    args.sections = selected
    return args


def main(argv=None) -> int:
    """Run the selected sections in order and report."""
    args = parse_args(argv)
    if os.environ != server_environ(os.environ):
        # Measure under the environment `idp serve` gives gunicorn (glibc tunables are
        # read at process start): the servers started here inherit it, and the argon2id
        # verify of the login comparison runs under it too.
        command = [sys.executable, "-m", "bench", *sys.argv[1:]]
        os.execve(sys.executable, command, server_environ(os.environ))  # noqa: S606
    settings = Settings.smoke() if args.quick else Settings()
    partial = args.quick or bool(args.only)
    output = Path(args.output) if args.output else (
        WORK_DIR / "performance.md" if partial else ROOT / "docs" / "performance.md"
    )
    started = time.perf_counter()
    info = machine()
    info["load_generator"] = load.generator()
    _, pg = engines()
    info["postgresql"] = pg["postgresql_info"] if pg["postgresql_reachable"] else None
    results = {
        "machine": info,
        "settings": {**asdict(settings), "quick": args.quick, "sections": args.sections},
        "sections": {},
    }
    for name in args.sections:
        log(f"section {name}")
        waited, quiet = wait_quiet(5.0 if args.quick else 20.0)
        if waited > 2.5:
            log(f"waited {waited:.0f} s for other processes to calm down ({quiet:.2f} cores)")
        t0 = time.perf_counter()
        before = cpu_snapshot()
        results["sections"][name] = SECTIONS[name](settings)
        wall = time.perf_counter() - t0
        results["sections"][name]["section_s"] = round(wall, 1)
        results["sections"][name]["interference"] = {
            **interference(before, cpu_snapshot(), wall),
            "waited_s": round(waited, 1), "quiet_cores": quiet,
        }
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.targets(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report.markdown(results))
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "results.json").write_text(json.dumps(results, indent=2, default=str))
    summary = {
        "report": str(output),
        "elapsed_s": results["elapsed_s"],
        "machine": {k: info[k] for k in ("cpu_model", "cores", "python", "date")},
        "targets": [
            {k: t[k] for k in ("key", "measured", "ratio", "target", "pass")}
            for t in results["targets"]
        ],
        "sections": {
            name: {"status": data.get("status"), **({"reason": data["reason"]}
                                                     if data.get("reason") else {})}
            for name, data in results["sections"].items()
        },
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    log(f"report written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
