"""The account page ("Mon compte"): identifier and names, password, e-mail address and
mobile (each confirmed before it replaces the old one), a parent's children, and logging
out here or everywhere. Every page needs a session; the logic is in idp.recovery.service.
"""

from __future__ import annotations

import functools

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.activation.service import masked_phone
from idp.activation.service import not_sent_notice
from idp.activation.service import password_errors
from idp.directory.normalise import mobile_e164
from idp.extensions import db
from idp.federation import service as federation
from idp.oauth import logout as logout_flow
from idp.recovery import service
from idp.services.phone_codes import RESEND_AFTER
from idp.services.phone_codes import CodeNotSent
from idp.web import after_response
from idp.web import current_sso
from idp.web import provider
from idp.web import render_error
from idp.web import set_sso_cookie

bp = Blueprint("account", __name__, url_prefix="/compte")

UNCHANGED = "Choisissez un mot de passe différent de l'actuel."


def _session_required(view):
    """Pass the live session to the view, or send the person to the login page."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        sso = current_sso()
        if sso is None:
            return redirect(url_for("auth.login"))
        if sso.account.role == "admin":
            # Administrators have the console, not a personal account page.
            return redirect(url_for("admin.index"))
        return view(sso, *args, **kwargs)

    return wrapper


def _field(name: str, size: int = 128) -> str:
    return (request.form.get(name) or "").strip()[:size]


def _help_url() -> str:
    return url_for("pages.help", _external=True)


@bp.get("")
@_session_required
def home(sso):
    """The person's account page."""
    account = sso.account
    return render_template("account/home.html", account=account,
                           children=service.children(account),
                           franceconnect=provider().franceconnect is not None,
                           franceconnect_link=federation.link_of(account))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@_session_required
def password(sso):
    """Change the password (the current one first); the other sessions end."""
    account = sso.account
    if account.password_hash is None:
        return render_error(400, "Pas de mot de passe EduConnect",
                            "Vous vous connectez avec FranceConnect : votre mot de passe est "
                            "celui du compte choisi dans FranceConnect.",
                            back_url=url_for("account.home"), back_label="Retour à mon compte")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        current = (request.form.get("current_password") or "")[:1024]
        new = (request.form.get("password") or "")[:1024]
        status = current_password_refused(account, errors, "password")
        if not status:
            verdict = service.check_new_password(provider().config, account, new,
                                                 request.form.get("confirmation") or "")
            if not verdict.ok:
                errors = password_errors(verdict.error)
            elif new == current:
                errors["password"] = UNCHANGED
            status = 422
        if not errors:
            outcome = service.change_password(provider(), account, new, keep_sid=sso.sid,
                                              help_url=_help_url())
            secret = provider().sessions.renew_secret(sso)
            db.session.commit()
            flash("Votre mot de passe a été modifié. Vos autres connexions ont été fermées.",
                  "success")
            return after_response(set_sso_cookie(redirect(url_for("account.home")), secret),
                                  outcome.later)
        db.session.commit()
    return render_template("account/password.html", account=account, errors=errors,
                           min_length=provider().config["PASSWORD_MIN_LENGTH"]), status


def current_password_refused(account, errors: dict, change: str) -> int:
    """Check the form's current password before a change; 0 when it is right, else the
    status, with the French message in `errors`.

    A session left open (a family computer) must not be enough to change the password,
    nor the e-mail or phone that a forgotten password is reset through. An account that
    only logs in through FranceConnect has no password to give, and no password to be
    reset either: its session is enough.
    """
    if account.password_hash is None:
        return 0
    current = (request.form.get("current_password") or "")[:1024]
    check = service.verify_current_password(provider(), account, current, change) \
        if current else "missing"
    if check == "ok":
        return 0
    errors["current_password"] = {
        "missing": "Saisissez votre mot de passe actuel.",
        "wrong": "Le mot de passe actuel est incorrect.",
        "limited": "Trop d'essais incorrects. Réessayez dans 15 minutes.",
    }[check]
    return {"missing": 422, "wrong": 401, "limited": 429}[check]


@bp.route("/courriel", methods=["GET", "POST"])
@_session_required
def email(sso):
    """Change the e-mail address: it is replaced once the link sent to it is opened."""
    account = sso.account
    errors: dict[str, str] = {}
    value = ""
    status = 200
    if request.method == "POST":
        value = _field("email", 254)
        if not service.valid_email(value):
            errors["email"] = "Saisissez une adresse électronique valide, par exemple " \
                              "nom@exemple.fr."
            status = 422
        if not errors:
            status = current_password_refused(account, errors, "email")
            db.session.commit()
        if not errors:
            try:
                outcome = service.request_email_change(
                    provider(), account, value,
                    lambda token: url_for("activation.confirm_email", token=token,
                                          _external=True))
            except service.RecoveryError as exc:
                errors["email"] = str(exc)
                status = 429
            else:
                db.session.commit()
                flash(f"Un lien de confirmation a été envoyé à {value}. Votre adresse sera "
                      "modifiée quand vous l'aurez ouvert (il est valable 24 heures).", "info")
                return after_response(redirect(url_for("account.home")), outcome.later)
            db.session.commit()
    return render_template("account/email.html", account=account, errors=errors,
                           email=value), status


@bp.route("/telephone", methods=["GET", "POST"])
@_session_required
def phone(sso):
    """Change the mobile: a code is sent to the new number."""
    account = sso.account
    errors: dict[str, str] = {}
    value = ""
    status = 200
    if request.method == "POST":
        value = _field("mobile")
        number = mobile_e164(value)
        if number is None:
            errors["mobile"] = "Saisissez un numéro de téléphone portable valide, par " \
                               "exemple 06 12 34 56 78."
            status = 422
        if not errors:
            status = current_password_refused(account, errors, "phone")
            db.session.commit()
        if not errors:
            try:
                flow_id = service.start_phone_change(provider(), account, number)
            except CodeNotSent as exc:
                db.session.commit()
                errors["mobile"] = exc.message
                status = 503 if exc.reason == "gateway" else 429
            else:
                db.session.commit()
                return redirect(url_for("account.phone_code", f=flow_id))
    return render_template("account/phone.html", account=account, errors=errors,
                           mobile=value), status


@bp.route("/telephone/code", methods=["GET", "POST"])
@_session_required
def phone_code(sso):
    """The code sent to the new mobile (3 tries, 10 minutes, a new one after 60 s)."""
    account = sso.account
    flow_id = request.values.get("f")
    data = service.phone_flow(provider(), flow_id, account)
    if data is None:
        return render_error(400, "Demande expirée",
                            "Ce changement de numéro a expiré ou a déjà été fait.",
                            back_url=url_for("account.phone"), back_label="Recommencer")
    errors, notice, status = {}, None, 200
    if request.method == "POST" and request.form.get("action") == "resend":
        try:
            service.resend_phone_code(provider(), flow_id, data)
            notice = {"level": "success", "text": "Un nouveau code vous a été envoyé."}
        except CodeNotSent as exc:
            notice = not_sent_notice(exc)
            status = 503 if exc.reason == "gateway" else 429
        db.session.commit()
    elif request.method == "POST":
        result, outcome = service.confirm_phone_change(provider(), account, flow_id, data,
                                                       _field("code", 32))
        db.session.commit()
        if result.ok:
            flash("Votre numéro de téléphone portable est modifié.", "success")
            return after_response(redirect(url_for("account.home")), outcome.later)
        errors["code"] = result.message
        status = 401
    return render_template("account/phone_code.html", flow_id=flow_id, errors=errors,
                           notice=notice, phone=masked_phone(data["phone"]),
                           resend_after=RESEND_AFTER), status


@bp.route("/enfants/<int:pupil_id>/mot-de-passe", methods=["GET", "POST"])
@_session_required
def child_password(sso, pupil_id):
    """A parent gives a first-degree child a new provisional password, shown once."""
    account = sso.account
    if request.method == "POST":
        try:
            identifier, password, expires_at = service.reset_child_password(
                provider(), account, pupil_id)
        except service.RecoveryError as exc:
            db.session.commit()
            return render_error(403, "Réinitialisation impossible", str(exc),
                                back_url=url_for("account.home"),
                                back_label="Retour à mon compte")
        return render_template("account/child_password.html", identifier=identifier,
                               password=password, expires_at=expires_at)
    child = service.resettable_child(account, pupil_id)
    if child is None:
        return render_error(404, "Élève introuvable",
                            "Cet élève ne figure pas parmi les enfants de votre compte dont "
                            "vous pouvez réinitialiser le mot de passe.",
                            back_url=url_for("account.home"),
                            back_label="Retour à mon compte")
    return render_template("account/child_reset.html", child=child)


@bp.post("/deconnexion-partout")
@_session_required
def logout_everywhere(sso):
    """End every session of the account (back-channel logout) and revoke its tokens."""
    service.log_out_everywhere(sso.account, keep_sid=sso.sid)
    return logout_flow.finish(sso, url_for("oauth.logged_out"))


@bp.post("/deconnexion")
def logout():
    """Log out from our own page (CSRF-protected)."""
    sso = current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    return logout_flow.finish(sso, url_for("oauth.logged_out"))
