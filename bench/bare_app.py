"""A bare Flask application, the baseline of the discovery and JWKS benchmark.

Served by gunicorn with the same settings as the provider (1 sync worker):
`gunicorn bench.bare_app:app`. Each route returns a constant JSON document with
`jsonify`, nothing else (no hooks, no database, no headers of its own):

- `/bare`: a small constant object;
- `/discovery-copy` and `/jwks-copy`: byte-for-byte the same JSON values as the
  provider's discovery document and JWKS, read once at start-up from the files
  discovery.json and jwks.json in the directory named by BENCH_BARE_DIR, so that the
  comparison is about the work per request, not the size of the body.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask
from flask import jsonify

app = Flask(__name__)

SMALL = {"status": "ok", "service": "bare"}
_DIR = os.environ.get("BENCH_BARE_DIR")
DISCOVERY = json.loads((Path(_DIR) / "discovery.json").read_text()) if _DIR else SMALL
JWKS = json.loads((Path(_DIR) / "jwks.json").read_text()) if _DIR else SMALL


@app.get("/bare")
def bare():
    """A small constant JSON object."""
    return jsonify(SMALL)


@app.get("/discovery-copy")
def discovery_copy():
    """The provider's discovery document, as a constant."""
    return jsonify(DISCOVERY)


@app.get("/jwks-copy")
def jwks_copy():
    """The provider's JWKS, as a constant."""
    return jsonify(JWKS)
