"""`python -m examples.sample_client [--host H] [--port P]`: serve the demo client."""

from __future__ import annotations

import argparse
import os
import threading
import time

from examples.sample_client.app import create_app


def main(argv=None) -> None:
    """Parse the command line and serve with the development server."""
    parser = argparse.ArgumentParser(description="Scolarité Services (démo), client OIDC")
    parser.add_argument("--host", default=os.environ.get("SAMPLE_CLIENT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("SAMPLE_CLIENT_PORT", "5001")))
    parser.add_argument("--config", default=None,
                        help="registration file (default: $SAMPLE_CLIENT_CONFIG or "
                             "var/sample_client.json)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one ends "
                             "(scripts/run-demo.sh: the provider)")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent()
    base_url = os.environ.get("SAMPLE_CLIENT_BASE_URL") or f"http://{args.host}:{args.port}"
    app = create_app(config_path=args.config, base_url=base_url)
    # A demonstration: Werkzeug's threaded server. The back-channel logout call arrives
    # while the person's own logout request is still being served, hence threads.
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)


def _exit_with_parent() -> None:
    """Exit once our parent process is gone (we are then given another parent)."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    main()
