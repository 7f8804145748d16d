"""Run several `idp` commands in one process: `python -m tests.browser.idp_batch`.

Reads a JSON list of argument lists on stdin (`[["db", "upgrade"], ["demo", "load"]]`)
and runs each through the `idp` command line (`idp.cli:main`, the console script), in
order, stopping at the first failure; writes a JSON list of {"args", "ok", "output"}
on stdout. The stack (stack.py) uses it at start-up: importing the provider takes
seconds of CPU, paid once here instead of once per command.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def run(commands: list[list[str]]) -> list[dict]:
    """Run the commands in order; stop after the first that fails."""
    import click

    from idp.cli import main

    results = []
    for args in commands:
        out = io.StringIO()
        ok = True
        try:
            with contextlib.redirect_stdout(out):
                main(list(args), standalone_mode=False, prog_name="idp")
        except click.ClickException as exc:
            ok = False
            out.write(f"\nError: {exc.format_message()}")
        except SystemExit as exc:  # a command that exits by itself
            ok = exc.code in (0, None)
        except Exception as exc:  # noqa: BLE001 - reported to the caller, with its type
            ok = False
            out.write(f"\n{type(exc).__name__}: {exc}")
        results.append({"args": list(args), "ok": ok, "output": out.getvalue()})
        if not ok:
            break
    return results


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout, ensure_ascii=False)
