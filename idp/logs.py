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

    def entry(self, record) -> dict:
        """The fields of the record's line."""
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
        return entry

    def format(self, record):
        """Return the record as one JSON line."""
        return json.dumps(self.entry(record), ensure_ascii=False, default=str)


class ServerJsonFormatter(JsonFormatter):
    """gunicorn's error and access logs under `idp serve` (idp/gunicorn_conf.py): the
    application's fields plus the process id, and the fields of an access line (the
    record's `access` dict: request id, method, redacted path, status...)."""

    def entry(self, record) -> dict:
        """The application's fields, the pid, and the access fields if any."""
        entry = super().entry(record)
        entry["pid"] = record.process
        access = getattr(record, "access", None)
        if access:
            entry.update(access)
        return entry


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
