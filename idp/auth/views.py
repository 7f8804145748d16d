"""The login page and the minimal account page."""

from __future__ import annotations

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.activation import service as activation
from idp.extensions import db
from idp.metrics import LOGINS
from idp.oauth import authorize as authorize_flow
from idp.oauth import logout as logout_flow
from idp.web import client_ip
from idp.web import current_sso
from idp.web import provider
from idp.web import set_sso_cookie

bp = Blueprint("auth", __name__)

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
    flow_id = request.values.get("flow")
    errors: dict[str, str] = {}
    identifier = authorize_flow.login_hint(flow_id) if request.method == "GET" else ""
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
    return render_template(
        "auth/login.html",
        flow_id=flow_id,
        identifier=identifier,
        errors=errors,
        client_name=authorize_flow.pending_client_name(flow_id),
        franceconnect=provider().franceconnect is not None,
    ), status


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


def log_in(account, flow_id, amr=("pwd",), acr="eidas1", extra=None):
    """Open a fresh session (rotating any previous one) and continue."""
    sessions = provider().sessions
    previous = current_sso()
    if previous is not None:
        logout_flow.end_session(previous, reason="replaced")
    secret, sso = sessions.create(account, amr=list(amr), acr=acr, extra=extra)
    target = authorize_flow.mark_logged_in(flow_id, sso.sid) if flow_id else None
    db.session.commit()
    response = redirect(target or url_for("account.home"))
    return set_sso_cookie(response, secret)


@bp.get("/")
def index():
    """The home page sends people to their account or to the login page."""
    return redirect(url_for("account.home"))
