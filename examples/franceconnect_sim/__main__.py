"""`python -m examples.franceconnect_sim ...`: serve the FranceConnect simulator on 127.0.0.1.

A development tool: it refuses to start when IDP_ENV=production, prints a warning,
and listens on the loopback interface only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from .app import ProductionRefused
from .app import create_app
from .app import refuse_production
from .keys import ALGS

HOST = "127.0.0.1"
WARNING = """\
**********************************************************************************
*  FranceConnect SIMULATOR — development and tests only. NEVER use it in          *
*  production: fictitious identities, known passwords, keys in memory, no         *
*  security. Listening on 127.0.0.1 only.                                         *
**********************************************************************************"""


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m examples.franceconnect_sim",
        description="FranceConnect v2 simulator (OpenID Connect provider) — development only.",
    )
    p.add_argument("--port", type=int, default=5002, help="port on 127.0.0.1 (5002)")
    p.add_argument("--issuer", help="issuer URL; its path prefixes the endpoints "
                   "(default http://127.0.0.1:PORT/api/v2)")
    p.add_argument("--client-id", help="the registered service provider's client_id")
    p.add_argument("--client-secret", help="its client_secret (client_secret_post)")
    p.add_argument("--redirect-uri", action="append", default=[],
                   help="a registered redirect URI (repeatable)")
    p.add_argument("--post-logout-redirect-uri", action="append", default=[],
                   help="a registered post-logout redirect URI (repeatable)")
    p.add_argument("--userinfo-alg", choices=[*ALGS, "none"],
                   help="userinfo signing for this client (default: --alg; none = JSON)")
    p.add_argument("--clients", type=Path, metavar="FILE",
                   help="JSON file: a list of client registrations (or {\"clients\": [...]})")
    p.add_argument("--alg", choices=ALGS, default="ES256",
                   help="ID token and userinfo signing algorithm (ES256)")
    p.add_argument("--sub-secret", help="secret mixed into the pairwise sub (a fixed "
                   "development value by default, so that sub survives restarts)")
    p.add_argument("--faults", action="store_true",
                   help="enable POST /_sim/faults and POST /_sim/rotate-keys")
    p.add_argument("--timeout-delay", type=float, default=5.0,
                   help="a 'timeout' fault sleeps longer than this many seconds (5)")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started this one ends")
    return p


def build_config(args: argparse.Namespace) -> dict:
    """The create_app() configuration from parsed arguments; ValueError when incomplete."""
    clients: list[dict] = []
    if args.clients:
        try:
            data = json.loads(args.clients.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--clients {args.clients}: {exc}") from None
        if isinstance(data, dict):
            data = data.get("clients")
        if not isinstance(data, list):
            raise ValueError(f"--clients {args.clients}: expected a list of registrations")
        clients.extend(data)
    if args.client_id or args.client_secret or args.redirect_uri:
        if not (args.client_id and args.client_secret and args.redirect_uri):
            raise ValueError("--client-id, --client-secret and --redirect-uri go together")
        client = {"client_id": args.client_id, "client_secret": args.client_secret,
                  "redirect_uris": args.redirect_uri,
                  "post_logout_redirect_uris": args.post_logout_redirect_uri}
        if args.userinfo_alg:
            client["userinfo_alg"] = args.userinfo_alg
        clients.append(client)
    if not clients:
        raise ValueError("register a client: --client-id/--client-secret/--redirect-uri "
                         "or --clients FILE")
    config = {
        "issuer": args.issuer or f"http://{HOST}:{args.port}/api/v2",
        "clients": clients,
        "alg": args.alg,
        "faults": args.faults,
        "timeout_delay": args.timeout_delay,
    }
    if args.sub_secret:
        config["sub_secret"] = args.sub_secret
    return config


def main(argv=None) -> int:
    """Parse, check, warn, serve."""
    args = parser().parse_args(argv)
    try:
        refuse_production()
        app = create_app(build_config(args))
    except ProductionRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sim = app.extensions["franceconnect_sim"]
    print(WARNING, file=sys.stderr)
    print(f"issuer   {sim.issuer}", file=sys.stderr)
    print(f"clients  {', '.join(sim.clients)}", file=sys.stderr)
    print(f"people   {', '.join(sim.people)} (password 123)", file=sys.stderr)
    if sim.faults_enabled:
        print(f"faults   POST http://{HOST}:{args.port}/_sim/faults", file=sys.stderr)
    if args.exit_with_parent:
        _exit_with_parent()
    # Threads: a "timeout" fault must not hold up the other requests.
    app.run(host=HOST, port=args.port, threaded=True, debug=False, use_reloader=False)
    return 0


def _exit_with_parent() -> None:
    """Exit once our parent process is gone."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
