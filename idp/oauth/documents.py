"""Discovery and JWKS served as pre-built bytes, in front of Flask.

Relying parties fetch `/.well-known/openid-configuration` and `/jwks` far more often
than anything else, and both answers are the same for everyone. `Documents` is a WSGI
middleware that answers GET and HEAD on exactly these two paths with pre-serialized
bodies and a pre-built header list, without building a Flask request: issue 8 asks for
at least 80 % of the requests per second of a bare Flask endpoint.

What it sends is what the Flask views (`idp.oauth.views.discovery` and `.jwks`) send,
after the hooks of `idp.web` and `idp.metrics`:

- the body is `app.json.response(...)`'s, that is `jsonify`'s, byte for byte;
- Content-Type, Content-Length, Access-Control-Allow-Origin and Cache-Control of the
  views; the security headers of `idp.web` (Strict-Transport-Security when the issuer is
  https); X-Request-ID, echoing a valid incoming one as `idp.web` does, else a new one;
- the request is observed in `idp_request_duration_seconds` with the view's endpoint
  name and the method, like `idp.metrics` does (it is the time spent here, which is
  what the metric measures for the other endpoints: the application's own work).

The documents follow the caches the views read, so they are never staler than the
views would be: the discovery document is `metadata()`'s cached dict (rebuilt when that
cache is cleared), the JWKS is the key set `KeyService` holds while it is fresh. When
the key set must be read from the database (expired or invalidated cache, for instance
right after a rotation), the request goes to the Flask view, which reloads it (or
answers 503 when the database is down); the next request is served from here again.

Everything else goes to Flask unchanged: other paths and methods (so POST still gets
405 and OPTIONS Flask's automatic answer), and any request that could make Flask answer
differently or that is unusual for these documents: a query string (Flask rejects NUL
in parameters), a body, or cookies (sessions). Any error while building a document also
leaves the request to Flask, which handles it as for any view.

The middleware is mounted outermost, in front of ProxyFix when trusted proxies are
configured: the documents are built from the configured issuer, never from the request's
host or scheme, so the forwarded headers do not matter to it and it saves their
processing. It keeps no per-request state and is safe under threaded workers.
"""

from __future__ import annotations

import time

from idp.metrics import LATENCY
from idp.oauth import discovery
from idp.web import security_headers
from idp.web import valid_request_id

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"

# The views' own headers (idp/oauth/views.py).
CORS_ORIGIN = ("Access-Control-Allow-Origin", "*")
DISCOVERY_CACHE = "public, max-age=3600"
JWKS_CACHE = "public, max-age=300"

_METHODS = ("GET", "HEAD")


class _Built:
    """One serialized document: the source it was built from, body and headers."""

    __slots__ = ("source", "body", "headers")

    def __init__(self, source, body: bytes, headers: list):
        self.source = source
        self.body = body
        self.headers = headers


class Documents:
    """WSGI middleware answering GET/HEAD of the discovery document and the JWKS."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._discovery: _Built | None = None
        self._jwks: _Built | None = None
        self._timers: dict = {}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == DISCOVERY_PATH:
            endpoint, build = "oauth.discovery", self._discovery_document
        elif path == JWKS_PATH:
            endpoint, build = "oauth.jwks", self._jwks_document
        else:
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if (
            method not in _METHODS
            or environ.get("QUERY_STRING")
            or environ.get("HTTP_COOKIE")
            or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        try:
            built = build()
        except Exception:  # noqa: BLE001 - Flask's view and error handlers answer instead
            built = None
        if built is None:
            return self.wsgi_app(environ, start_response)
        rid = valid_request_id(environ.get("HTTP_X_REQUEST_ID"))
        start_response("200 OK", [*built.headers, ("X-Request-ID", rid)])
        self._observe(endpoint, method, time.perf_counter() - started)
        return [built.body] if method == "GET" else []

    def _observe(self, endpoint: str, method: str, seconds: float) -> None:
        timer = self._timers.get((endpoint, method))
        if timer is None:
            timer = self._timers[(endpoint, method)] = LATENCY.labels(endpoint, method)
        timer.observe(seconds)

    def _discovery_document(self) -> _Built:
        built = self._discovery
        doc = discovery.cached_metadata(self.app)
        if built is not None and doc is built.source:
            return built
        if doc is None:
            with self.app.app_context():
                doc = discovery.metadata()
        built = self._discovery = self._build(doc, doc, DISCOVERY_CACHE)
        return built

    def _jwks_document(self) -> _Built | None:
        keys = self.app.extensions["idp"].keys.cached_public_keys()
        if keys is None:
            # To be (re)loaded from the database: the view does it, with its 503.
            return None
        built = self._jwks
        if built is not None and keys is built.source:
            return built
        built = self._jwks = self._build(keys, {"keys": keys}, JWKS_CACHE)
        return built

    def _build(self, source, document: dict, cache_control: str) -> _Built:
        response = self.app.json.response(document)  # what jsonify() returns
        body = response.get_data()
        headers = [
            ("Content-Type", response.headers["Content-Type"]),
            ("Content-Length", str(len(body))),
            CORS_ORIGIN,
            ("Cache-Control", cache_control),
            *security_headers(self.app.config["ISSUER"]),
        ]
        return _Built(source, body, headers)
