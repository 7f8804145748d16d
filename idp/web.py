"""Request glue shared by every blueprint: CSRF, security headers, the SSO cookie,
the request id, error pages. Views stay thin by relying on these helpers."""

from __future__ import annotations

import logging
import re
import secrets
import uuid

from flask import abort
from flask import current_app
from flask import g
from flask import make_response
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask.sessions import SecureCookieSessionInterface

from idp.extensions import db
from idp.services import audit
from idp.services.secrets import same

log = logging.getLogger(__name__)

CSRF_EXEMPT: set[str] = set()

# The shape of the flow ids that pages pass along in `f` and `flow` (never trusted: the
# flow store checks them).
FLOW_PARAM = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Responses of these endpoints may be cached by clients; every other one is no-store.
CACHEABLE_ENDPOINTS = {"static", "oauth.discovery", "oauth.jwks"}

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def csrf_exempt(view):
    """Mark a view as not needing a CSRF token (protocol endpoints called by clients)."""
    CSRF_EXEMPT.add(f"{view.__module__}.{view.__name__}")
    return view


def provider():
    """Return the current application's Provider."""
    return current_app.extensions["idp"]


def csrf_token() -> str:
    """Return the CSRF token of this browser, creating it once."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _check_csrf():
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or f"{view.__module__}.{view.__name__}" in CSRF_EXEMPT:
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not isinstance(sent, str) or not same(sent, expected):
        abort(400, description="csrf")


def _reject_nul():
    """No legitimate parameter contains NUL; databases refuse it, so refuse it first."""
    query = request.query_string
    # NUL can only reach a parameter percent-encoded (or raw) in the query string; the
    # form is checked only when there is one, so GET requests parse nothing here.
    if b"%00" in query or b"\x00" in query:
        abort(400)
    if request.method != "GET" and request.mimetype in FORM_TYPES:
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def pending_authorization(data: dict | None = None) -> str | None:
    """The service's pending authorization request (a flow id) to come back to: from a
    journey's stored flow, or, once that is gone, from the page's address (each step
    carries it). Only its shape is checked here: the pages it is passed to check it."""
    value = (data or {}).get("authorize") or request.values.get("flow") or ""
    return value if isinstance(value, str) and FLOW_PARAM.fullmatch(value) else None


def login_url(authorize: str | None = None) -> str:
    """The login page, for the pending request when there is one."""
    return url_for("auth.login", flow=authorize) if authorize else url_for("auth.login")


def reads_only() -> None:
    """Run this request's queries outside a transaction: for requests that write
    nothing, called before their first query.

    On PostgreSQL this saves the BEGIN and ROLLBACK round trips and the backend's
    transaction work (measured: UserInfo's backend CPU went from 1.1 to 0.26 ms). SQLite
    opens no transaction for reads anyway, and switching its connection's mode back and
    forth costs more than it saves there.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def client_ip() -> str:
    """The client's address (after the trusted proxies, see ProxyFix)."""
    return request.remote_addr or "unknown"


def current_sso():
    """Return the live SSO session of this browser, or None (cached per request)."""
    if "sso" not in g:
        cookie = request.cookies.get(current_app.config["SESSION_COOKIE_NAME_SSO"])
        g.sso = provider().sessions.find(cookie) if cookie else None
    return g.sso


def set_sso_cookie(response, secret: str | None):
    """Set (or clear, with None) the SSO cookie on a response."""
    cfg = current_app.config
    name = cfg["SESSION_COOKIE_NAME_SSO"]
    if secret is None:
        response.delete_cookie(name, path="/", samesite="Lax", httponly=True,
                               secure=cfg["SESSION_COOKIE_SECURE"])
    else:
        response.set_cookie(
            name, secret, max_age=cfg["SESSION_MAX_TTL"], path="/", httponly=True,
            samesite="Lax", secure=cfg["SESSION_COOKIE_SECURE"],
        )
    return response


def render_error(status: int, title: str, message: str, back_url=None, back_label=None):
    """Render the French error page with a status code; back_label names where back_url
    leads ("Recommencer", "Retour à la connexion"), by default the previous page."""
    return render_template(
        "errors/error.html", status=status, title=title, message=message, back_url=back_url,
        back_label=back_label,
    ), status


class CsrfCookieSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session (it only holds the CSRF token), with its serializer
    built once per application instead of on every request."""

    def get_signing_serializer(self, app):
        """Return the application's serializer, created on first use."""
        serializer = app.extensions.get("idp.session_serializer")
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            app.extensions["idp.session_serializer"] = serializer
        return serializer


def valid_request_id(sent: str | None) -> str:
    """The request id a proxy sent when it is well-formed, else a new one."""
    if not sent or len(sent) > 64 or not sent.replace("-", "").isalnum():
        return uuid.uuid4().hex
    return sent


def security_headers(issuer: str) -> list[tuple[str, str]]:
    """The headers every response carries (HSTS only when served over https)."""
    headers = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if issuer.startswith("https://"):
        headers.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    return headers


def init_app(app):
    """Register the request hooks, the session interface and the template globals."""
    app.session_interface = CsrfCookieSession()

    @app.before_request
    def _start():
        rid = g.request_id = valid_request_id(request.headers.get("X-Request-ID"))
        audit.origin.set({"ip": client_ip(), "request_id": rid})
        _reject_nul()
        _check_csrf()

    security = security_headers(app.config["ISSUER"])
    no_store = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    @app.after_request
    def _headers(response):
        headers = response.headers
        # A view may set its own value of a security header: keep it (one pass).
        present = {name.lower() for name, _ in headers}
        headers.extend(
            [(k, v) for k, v in security if k.lower() not in present]
        )
        headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.endpoint
        if endpoint == "static":
            # Services may use our DSFR stylesheet: its fonts need CORS to load.
            headers.setdefault("Access-Control-Allow-Origin", "*")
        if endpoint not in CACHEABLE_ENDPOINTS:
            for name, value in no_store:
                headers[name] = value
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token


def after_response(response, work):
    """Run work (a message to send) once the response has left, in its own application
    context; a failure is logged, never shown. Return the response."""
    response = make_response(response)
    if work is None:
        return response
    app = current_app._get_current_object()
    # The audit events of the work keep the address and request id of this request.
    origin = audit.origin.get()

    def run():
        with app.app_context():
            token = audit.origin.set(origin)
            try:
                work()
                db.session.commit()
            except Exception:  # noqa: BLE001 - the person already has their page
                db.session.rollback()
                log.exception("message not sent after the response")
            finally:
                audit.origin.reset(token)

    response.call_on_close(run)
    return response
