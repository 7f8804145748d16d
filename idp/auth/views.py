"""The login page and the minimal account page."""

from __future__ import annotations

import logging
import re
import secrets

from flask import Blueprint
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from markupsafe import escape

from idp.activation import service as activation
from idp.extensions import db
from idp.metrics import LOGINS
from idp.oauth import authorize as authorize_flow
from idp.oauth import logout as logout_flow
from idp.web import FLOW_PARAM
from idp.web import client_ip
from idp.web import csrf_token
from idp.web import current_sso
from idp.web import provider
from idp.web import reads_only
from idp.web import set_sso_cookie

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

MESSAGES = {
    "invalid": "Identifiant ou mot de passe incorrect.",
    "missing_identifier": "Saisissez votre identifiant.",
    "missing_password": "Saisissez votre mot de passe.",
    "admin": (
        "Ce compte d'administration se connecte depuis la console d'administration des "
        "comptes."
    ),
    "provisional_expired": (
        "Votre mot de passe provisoire a expiré. Demandez-en un nouveau à votre "
        "établissement."
    ),
    "ip_limited": (
        "Trop de tentatives de connexion depuis votre réseau. Patientez une minute "
        "puis réessayez."
    ),
}


LOGIN_TEMPLATE = "auth/login.html"


class LoginPageShells:
    """The login page of anonymous visitors, rendered by Jinja once per variant.

    The page is the same for every anonymous visitor but for four values: the pending
    flow's id, the prefilled identifier (login_hint), the waiting service's name and the
    CSRF token. Jinja renders it once per variant with markers in their place (a
    "shell"); each display then joins the shell's pieces with the escaped values, which
    costs a small fraction of a rendering. Everything else goes through Jinja as before:
    a page with errors, flashed messages or any other session content, a visitor with an
    SSO cookie, an unusual flow id, templates that reload. So a shell can never carry
    anything of another person, and it is used only after it reproduced a full rendering
    exactly (else that variant is always rendered by Jinja).
    """

    SLOTS = ("flow", "identifier", "client", "csrf")
    MAX_SHELLS = 64

    def __init__(self, template: str = LOGIN_TEMPLATE):
        self.template = template
        # Letters and digits only: unchanged by escaping and URL quoting, and random so
        # that no template text can contain it.
        self.marker = f"idpslot{secrets.token_hex(8)}"
        self.split = re.compile(f"{self.marker}({'|'.join(self.SLOTS)})")
        self.shells: dict[tuple, tuple[str, ...] | None] = {}

    def render(self, context: dict) -> str | None:
        """The page for this context from its shell, or None to render it with Jinja."""
        flow_id = context["flow_id"]
        if (
            context["errors"]
            or current_app.jinja_env.auto_reload
            or any(key != "csrf" for key in session)
            or request.cookies.get(current_app.config["SESSION_COOKIE_NAME_SSO"])
            # Flow ids of our shape (token_urlsafe) are unchanged by URL quoting and
            # HTML escaping, so the shell can take them as they are; others go to Jinja.
            or (flow_id and not FLOW_PARAM.fullmatch(flow_id))
        ):
            return None
        key = (request.script_root, request.endpoint, bool(flow_id),
               bool(context["identifier"]), bool(context["client_name"]),
               bool(context["franceconnect"]))
        values = {
            "flow": flow_id or "",
            "identifier": str(escape(context["identifier"])),
            "client": str(escape(context["client_name"] or "")),
            "csrf": str(escape(csrf_token())),
        }
        if key not in self.shells:
            if len(self.shells) >= self.MAX_SHELLS:
                return None
            return self._build(key, context, values)
        shell = self.shells[key]
        return self._fill(shell, values) if shell is not None else None

    def _build(self, key: tuple, context: dict, values: dict) -> str:
        """Render the page, and the shell of its variant; keep the shell if they agree."""
        page = render_template(self.template, **context)
        placeholders = dict(
            context,
            flow_id=f"{self.marker}flow" if context["flow_id"] else None,
            identifier=f"{self.marker}identifier" if context["identifier"] else "",
            client_name=f"{self.marker}client" if context["client_name"] else None,
        )
        text = render_template(self.template, **placeholders)
        text = text.replace(values["csrf"], f"{self.marker}csrf")
        shell = tuple(self.split.split(text))
        if self._fill(shell, values) != page:
            log.warning("%s: the page shell differs from a rendering, not used", self.template)
            shell = None
        self.shells[key] = shell
        return page

    @staticmethod
    def _fill(shell: tuple[str, ...], values: dict) -> str:
        # Even positions are text, odd ones slot names (re.split with one group).
        return "".join(
            [part if i % 2 == 0 else values[part] for i, part in enumerate(shell)]
        )


def _shells() -> LoginPageShells:
    shells = current_app.extensions.get("idp.login_shells")
    if shells is None:
        shells = current_app.extensions["idp.login_shells"] = LoginPageShells()
    return shells


def _locked_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Votre compte est temporairement bloqué après plusieurs tentatives "
        f"infructueuses. Réessayez dans {minutes} {unit}, ou utilisez « Mot de passe "
        "oublié »."
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Identifier and password form; on success, resume the pending request."""
    if request.method == "GET":
        reads_only()
    flow_id = request.values.get("flow")
    errors: dict[str, str] = {}
    identifier = ""
    status = 200
    if request.method == "POST":
        identifier = (request.form.get("identifier") or "").strip()[:64]
        password = request.form.get("password") or ""
        if not identifier:
            errors["identifier"] = MESSAGES["missing_identifier"]
        if not password:
            errors["password"] = MESSAGES["missing_password"]
        if not errors:
            outcome = _attempt(identifier, password[:1024], flow_id)
            if not isinstance(outcome, tuple):
                return outcome
            status, field, message = outcome
            errors[field] = message
    # The pending request is read once: for the service's name and the login_hint.
    pending = provider().flows.get(flow_id, authorize_flow.FLOW_KIND) if flow_id else None
    if pending is not None and request.method == "GET":
        identifier = authorize_flow.login_hint(flow_id, pending)
    context = {
        "flow_id": flow_id,
        "identifier": identifier,
        "errors": errors,
        "client_name": authorize_flow.pending_client_name(flow_id, pending) if pending else None,
        "franceconnect": provider().franceconnect is not None,
    }
    page = None if errors else _shells().render(context)
    return page or render_template(LOGIN_TEMPLATE, **context), status


def _attempt(identifier, password, flow_id):
    """Try a login: a response to continue, or (status, field, message) to show."""
    cfg = provider().config
    within = provider().ratelimiter.hit(
        f"login-ip:{client_ip()}", cfg["RATELIMIT_LOGIN_PER_IP"], cfg["RATELIMIT_LOGIN_WINDOW"]
    )
    if not within:
        LOGINS.labels("rate_limited").inc()
        return 429, "identifier", MESSAGES["ip_limited"]
    result = provider().login.authenticate(identifier, password)
    LOGINS.labels(result.outcome).inc()
    if not result.ok:
        db.session.commit()
        if result.outcome == "locked":
            return 423, "identifier", _locked_message(result.retry_after)
        return 401, "password", MESSAGES["invalid"]
    account = result.account
    if account.role == "admin":
        db.session.rollback()
        return 403, "identifier", MESSAGES["admin"]
    if account.status == "provisional":
        if activation.provisional_expired(account):
            db.session.rollback()
            return 401, "password", MESSAGES["provisional_expired"]
        activation_id = provider().flows.create(
            activation.ACCOUNT_FLOW,
            {"account_id": account.id, "authorize": flow_id, "step": "password"},
        )
        db.session.commit()
        return redirect(url_for("activation.account_password", f=activation_id))
    return log_in(account, flow_id)


def log_in(account, flow_id, amr=("pwd",), acr="eidas1", extra=None, auth_time=None):
    """Open a fresh session (rotating any previous one) and continue."""
    sessions = provider().sessions
    previous = current_sso()
    if previous is not None:
        logout_flow.end_session(previous, reason="replaced")
    secret, sid = sessions.create(account, amr=list(amr), acr=acr, extra=extra,
                                  auth_time=auth_time)
    target = authorize_flow.mark_logged_in(flow_id, sid) if flow_id else None
    db.session.commit()
    response = redirect(target or url_for("account.home"))
    return set_sso_cookie(response, secret)


@bp.get("/")
def index():
    """The home page sends people to their account or to the login page."""
    return redirect(url_for("account.home"))
