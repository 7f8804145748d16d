"""Run bench/bench_import.py's `run(report)` in a fresh process and save what it reports.

A fresh process, so that the peak RSS the import reports is the import's, not that of
the benchmarks that ran before it. Usage: python -m bench.import_runner OUT.json

The `report` object handed to `run(report)`:

- is a dict: `report["wall_s"] = 41.2` records a value;
- `report.add(name, value, unit="", target=None, note="")` records a measurement;
  `target` is a string such as "< 60 s" or "< 300 MB" (checked when it has that form);
- `report.note(text)` adds a sentence to the report;
- `report.table(title, headers, rows)` adds a table of its own.

A dict returned by `run` is merged into the report as well. Names containing "wall"
(seconds) and "rss" (MB) get the targets of issue 8 (< 60 s, < 300 MB) when the
import gives none.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback


class ImportReport(dict):
    """What bench_import.run() reports; a dict with a few recording helpers."""

    def __init__(self):
        super().__init__()
        self.measurements: list[dict] = []
        self.notes: list[str] = []
        self.tables: list[dict] = []

    def add(self, name, value, unit="", target=None, note="", **extra):
        """Record one measurement."""
        self.measurements.append({
            "name": str(name), "value": value, "unit": unit, "target": target,
            "note": note, **{k: v for k, v in extra.items() if _jsonable(v)},
        })

    record = metric = measure = add

    def note(self, text):
        """Add a sentence to the report."""
        self.notes.append(str(text))

    def table(self, title, headers, rows):
        """Add a table."""
        self.tables.append({
            "title": str(title), "headers": [str(h) for h in headers],
            "rows": [[str(c) for c in row] for row in rows],
        })

    def as_json(self) -> dict:
        """Everything recorded, JSON-ready."""
        return {
            "values": {k: v for k, v in self.items() if _jsonable(v)},
            "measurements": self.measurements,
            "notes": self.notes,
            "tables": self.tables,
        }


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def main(out_path: str) -> int:
    """Import bench.bench_import, call run(report), write the report as JSON."""
    report = ImportReport()
    t0 = time.perf_counter()
    status = "ok"
    error = None
    try:
        module = importlib.import_module("bench.bench_import")
        returned = module.run(report)
        if isinstance(returned, dict):
            for key, value in returned.items():
                report.setdefault(key, value)
    except Exception:  # noqa: BLE001 - reported, never hidden
        status = "error"
        error = traceback.format_exc(limit=8)
    data = report.as_json()
    data.update({
        "status": status, "error": error,
        "runner_wall_s": round(time.perf_counter() - t0, 2),
    })
    with open(out_path, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
