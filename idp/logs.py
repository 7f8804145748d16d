"""Logging: plain text in development, one JSON object per line in production."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import g
from flask import has_request_context


class JsonFormatter(logging.Formatter):
    """Format records as JSON with the request id; never secrets or personal data."""

    def format(self, record):
        """Return the record as one JSON line."""
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = g.get("request_id")
        audit = getattr(record, "audit", None)
        if audit:
            entry["audit"] = audit
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(app) -> None:
    """Set up the root logger from the config (level, JSON or text)."""
    handler = logging.StreamHandler(sys.stderr)
    if app.config["LOG_JSON"]:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("idp")
    root.handlers[:] = [handler]
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False
