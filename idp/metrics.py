"""Prometheus metrics: logins, tokens, messages, request latency.

Under gunicorn every worker writes to PROMETHEUS_MULTIPROC_DIR (set by `idp serve`) and
/metrics aggregates them, so the numbers cover the whole node.
"""

from __future__ import annotations

import os
import time

from flask import Response
from flask import abort
from flask import g
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from idp.services.secrets import same

LOGINS = Counter("idp_logins_total", "Password logins by result", ["result"])
TOKENS = Counter("idp_tokens_issued_total", "Token responses by grant type", ["grant_type"])
ACTIVATIONS = Counter("idp_activations_total", "Account activations by kind", ["kind"])
MESSAGES = Counter("idp_messages_total", "SMS and e-mails by channel and result",
                   ["channel", "result"])
LOGOUTS = Counter("idp_backchannel_logouts_total", "Back-channel logout deliveries",
                  ["result"])
LATENCY = Histogram(
    "idp_request_duration_seconds", "Request latency by endpoint", ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


# Every series a counter can have, shown at 0 from the start: a rate or an alert on a
# series that does not exist yet (no activation so far) would see nothing at all.
KNOWN_SERIES = (
    (LOGINS, [("ok",), ("invalid",), ("locked",), ("rate_limited",)]),
    (TOKENS, [("authorization_code",), ("refresh_token",)]),
    (ACTIVATIONS, [("parent_sms",), ("eleve_distributed",), ("responsable_distributed",)]),
    (MESSAGES, [(channel, result) for channel in ("sms", "mail")
                for result in ("sent", "failed")]),
    (LOGOUTS, [("delivered",), ("failed",)]),
)


def init_app(app) -> None:
    """Time every request and expose /metrics (optionally behind a bearer token)."""
    for counter, series in KNOWN_SERIES:
        for labels in series:
            counter.labels(*labels)

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.get("started")
        if started is not None and request.endpoint not in (None, "static", "metrics"):
            LATENCY.labels(request.endpoint, request.method).observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics")
    def metrics():
        """Prometheus exposition; needs the configured token when one is set."""
        token = app.config.get("METRICS_TOKEN")
        if token:
            sent = request.headers.get("Authorization", "")
            if not same(sent, f"Bearer {token}"):
                abort(404)
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
