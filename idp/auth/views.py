"""The login page and the minimal account page."""

from __future__ import annotations

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

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
        cfg = provider().config
        if not identifier:
            errors["identifier"] = MESSAGES["missing_identifier"]
        if not password:
            errors["password"] = MESSAGES["missing_password"]
        if not errors:
            within = provider().ratelimiter.hit(
                f"login-ip:{client_ip()}", cfg["RATELIMIT_LOGIN_PER_IP"],
                cfg["RATELIMIT_LOGIN_WINDOW"],
            )
            if not within:
                LOGINS.labels("rate_limited").inc()
                errors["identifier"] = MESSAGES["ip_limited"]
                status = 429
            else:
                result = provider().login.authenticate(identifier, password[:1024])
                LOGINS.labels(result.outcome).inc()
                if result.ok:
                    return _logged_in(result.account, flow_id)
                db.session.commit()
                status = 423 if result.outcome == "locked" else 401
                errors["password" if result.outcome == "invalid" else "identifier"] = (
                    MESSAGES["invalid"] if result.outcome == "invalid"
                    else _locked_message(result.retry_after)
                )
    return render_template(
        "auth/login.html",
        flow_id=flow_id,
        identifier=identifier,
        errors=errors,
        client_name=authorize_flow.pending_client_name(flow_id),
    ), status


def _logged_in(account, flow_id):
    """Open a fresh session (rotating any previous one) and continue."""
    sessions = provider().sessions
    previous = current_sso()
    if previous is not None:
        logout_flow.end_session(previous, reason="replaced")
    secret, sso = sessions.create(account, amr=["pwd"], acr="eidas1")
    target = authorize_flow.mark_logged_in(flow_id, sso.sid) if flow_id else None
    db.session.commit()
    response = redirect(target or url_for("auth.account"))
    return set_sso_cookie(response, secret)


@bp.get("/compte")
def account():
    """The person's account page (needs a session)."""
    sso = current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    return render_template("auth/account.html", account=sso.account)


@bp.post("/compte/deconnexion")
def logout():
    """Log out from our own page (CSRF-protected)."""
    sso = current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    return logout_flow.finish(sso, url_for("oauth.logged_out"))


@bp.get("/")
def index():
    """The home page sends people to their account or to the login page."""
    return redirect(url_for("auth.account"))
