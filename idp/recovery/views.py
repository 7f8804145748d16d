"""Pages of "Identifiant perdu" and "Mot de passe oublié".

Whatever a request finds, the page that follows is the same; the messages go out once
the response has left (`after_response`), so that neither the page nor its timing tells
whether an account, a phone number or an address exists.
"""

from __future__ import annotations

from flask import Blueprint
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.activation.service import flow_minutes
from idp.activation.service import masked_phone
from idp.activation.service import password_errors
from idp.directory.normalise import phone_e164
from idp.extensions import db
from idp.recovery import service
from idp.services import audit
from idp.web import after_response
from idp.web import client_ip
from idp.web import login_url
from idp.web import pending_authorization
from idp.web import provider
from idp.web import render_error

bp = Blueprint("recovery", __name__, url_prefix="/recuperation")

LIMITED = "Vous avez fait trop de demandes. Pour votre sécurité, réessayez dans une heure."
RESEND_REFUSED = {
    "too_soon": "Vous pourrez demander un nouveau code dans {wait} secondes.",
    "too_many": "Vous avez demandé trop de codes. Recommencez plus tard depuis la page de "
                "connexion, ou contactez l'établissement de votre enfant.",
}


def _help_url() -> str:
    return url_for("pages.help", _external=True)


def _field(name: str, size: int = 128) -> str:
    return (request.form.get(name) or "").strip()[:size]


def _expired_page(authorize=None):
    db.session.rollback()
    authorize = authorize or pending_authorization()
    # "Recommencer" leads where this journey starts, for the same service's request.
    return render_error(
        400, "Demande expirée",
        f"Cette demande a expiré ou a déjà été utilisée : une demande doit être terminée "
        f"dans les {flow_minutes()} minutes. Recommencez-la depuis le début.",
        back_url=url_for("recovery.password", flow=authorize), back_label="Recommencer",
    )


def _within_limits(**keys) -> bool:
    return service.within_limits(provider().ratelimiter, ip=client_ip(), **keys)


def _limited(scope: str):
    audit.record("recovery.rate_limited", scope=scope)
    db.session.commit()


# -- lost identifier ----------------------------------------------------------------------


@bp.get("/identifiant")
def identifier():
    """"Identifiant perdu": parents by SMS, pupils by e-mail."""
    return render_template("recovery/identifier_start.html", authorize=pending_authorization())


@bp.route("/identifiant/parent", methods=["GET", "POST"])
def identifier_parent():
    """A parent's name and mobile; the identifier goes by SMS to that mobile."""
    authorize = pending_authorization()
    form = {"family_name": "", "given_name": "", "mobile": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {key: _field(key) for key in form}
        phone = phone_e164(form["mobile"])
        if not form["family_name"]:
            errors["family_name"] = "Saisissez votre nom."
        if not form["given_name"]:
            errors["given_name"] = "Saisissez votre prénom."
        if not form["mobile"]:
            errors["mobile"] = "Saisissez votre numéro de téléphone portable."
        elif phone is None:
            errors["mobile"] = "Saisissez un numéro de téléphone portable valide, par " \
                               "exemple 06 12 34 56 78."
        if not errors and not _within_limits(contact=phone):
            _limited("identifier_sms")
            errors["family_name"] = LIMITED
            return render_template("recovery/identifier_parent.html", form=form,
                                   errors=errors, authorize=authorize), 429
        if not errors:
            later = service.request_identifier_by_sms(provider(), form["family_name"],
                                                      form["given_name"], phone)
            db.session.commit()
            return after_response(redirect(url_for("recovery.identifier_sent", canal="sms",
                                                   flow=authorize)), later)
    return render_template("recovery/identifier_parent.html", form=form, errors=errors,
                           authorize=authorize), 422 if errors else 200


@bp.route("/identifiant/eleve", methods=["GET", "POST"])
def identifier_pupil():
    """A pupil's confirmed address; the identifier goes there by e-mail."""
    authorize = pending_authorization()
    email = ""
    errors: dict[str, str] = {}
    if request.method == "POST":
        email = _field("email", 254)
        if not service.valid_email(email):
            errors["email"] = "Saisissez une adresse électronique valide, par exemple " \
                              "nom@exemple.fr."
        elif not _within_limits(contact=email):
            _limited("identifier_mail")
            errors["email"] = LIMITED
            return render_template("recovery/identifier_pupil.html", email=email,
                                   errors=errors, authorize=authorize), 429
        else:
            later = service.request_identifier_by_mail(
                provider(), email, url_for("auth.login", _external=True))
            db.session.commit()
            return after_response(redirect(url_for("recovery.identifier_sent",
                                                   canal="courriel", flow=authorize)), later)
    return render_template("recovery/identifier_pupil.html", email=email, errors=errors,
                           authorize=authorize), 422 if errors else 200


@bp.get("/identifiant/envoye")
def identifier_sent():
    """The same page whether or not anything matched."""
    channel = "sms" if request.args.get("canal") == "sms" else "courriel"
    return render_template("recovery/identifier_sent.html", channel=channel,
                           login_url=login_url(pending_authorization()))


# -- forgotten password -------------------------------------------------------------------


@bp.get("/mot-de-passe")
def password():
    """"Mot de passe oublié": parents by SMS code, pupils by e-mail link."""
    return render_template("recovery/password_start.html", authorize=pending_authorization())


@bp.route("/mot-de-passe/parent", methods=["GET", "POST"])
def password_parent():
    """A parent's identifier and mobile; the code page follows in every case."""
    authorize = pending_authorization()
    form = {"identifier": "", "mobile": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {"identifier": _field("identifier", 64), "mobile": _field("mobile")}
        phone = phone_e164(form["mobile"])
        if not form["identifier"]:
            errors["identifier"] = "Saisissez votre identifiant."
        if not form["mobile"]:
            errors["mobile"] = "Saisissez votre numéro de téléphone portable."
        elif phone is None:
            errors["mobile"] = "Saisissez un numéro de téléphone portable valide, par " \
                               "exemple 06 12 34 56 78."
        if not errors and not _within_limits(identifier=form["identifier"], contact=phone):
            _limited("password_sms")
            errors["identifier"] = LIMITED
            return render_template("recovery/password_parent.html", form=form,
                                   errors=errors, authorize=authorize), 429
        if not errors:
            outcome = service.request_reset_by_sms(provider(), form["identifier"], phone,
                                                   authorize)
            db.session.commit()
            # The service's request rides along in the address, to be found again
            # when the flow has expired.
            return after_response(redirect(url_for("recovery.password_code",
                                                   f=outcome.flow_id, flow=authorize)),
                                  outcome.later)
    return render_template("recovery/password_parent.html", form=form, errors=errors,
                           authorize=authorize), 422 if errors else 200


@bp.route("/mot-de-passe/parent/code", methods=["GET", "POST"])
def password_code():
    """The code received by SMS (3 tries, 10 minutes, a new one after 60 seconds)."""
    flow_id = request.values.get("f")
    data = service.sms_flow(provider(), flow_id)
    if data is None or data.get("step") != "code":
        return _expired_page((data or {}).get("authorize"))
    authorize = data.get("authorize") or pending_authorization()
    errors, notice, status, later = {}, None, 200, None
    if request.method == "POST" and request.form.get("action") == "resend":
        try:
            later = service.resend_code(provider(), flow_id, data).later
            notice = {"level": "success",
                      "text": "Si les informations saisies correspondent à un compte, un "
                              "nouveau code vous a été envoyé."}
        except service.Refused as exc:
            # Waiting is no error, and no code was typed: a status, not the field's error.
            notice = {"level": "info" if exc.reason == "too_soon" else "error",
                      "text": RESEND_REFUSED[exc.reason].format(wait=exc.wait)}
            status = 429
        db.session.commit()
    elif request.method == "POST":
        result = service.check_code(provider(), flow_id, data, _field("code", 32))
        db.session.commit()
        if result.ok:
            return redirect(url_for("recovery.password_new", f=flow_id, flow=authorize))
        errors["code"] = result.message
        status = 401
    page = render_template("recovery/password_code.html", flow_id=flow_id, errors=errors,
                           notice=notice, phone=masked_phone(data["phone"]),
                           authorize=authorize, minutes=flow_minutes(),
                           resend_after=service.RESEND_AFTER)
    return after_response(make_response(page, status), later)


@bp.route("/mot-de-passe/parent/nouveau", methods=["GET", "POST"])
def password_new():
    """The new password, once the code is verified; the flow is taken by the last POST."""
    flow_id = request.values.get("f")
    account = service.sms_reset_account(provider(), flow_id)
    if account is None:
        return _expired_page()
    authorize = service.sms_flow(provider(), flow_id).get("authorize")
    return _new_password(account, url_for("recovery.password_new", flow=authorize),
                         {"f": flow_id},
                         lambda password: service.finish_sms_reset(
                             provider(), flow_id, password, _help_url()), authorize,
                         step=(3, 3))


@bp.route("/mot-de-passe/eleve", methods=["GET", "POST"])
def password_pupil():
    """A pupil's identifier; a link goes to the account's confirmed address, if any."""
    authorize = pending_authorization()
    identifier = ""
    errors: dict[str, str] = {}
    if request.method == "POST":
        identifier = _field("identifier", 64)
        if not identifier:
            errors["identifier"] = "Saisis ton identifiant."
        elif not _within_limits(identifier=identifier):
            _limited("password_mail")
            errors["identifier"] = LIMITED
            return render_template("recovery/password_pupil.html", identifier=identifier,
                                   errors=errors, authorize=authorize), 429
        else:
            outcome = service.request_reset_by_mail(
                provider(), identifier,
                lambda token: url_for("recovery.password_link", token=token, _external=True))
            db.session.commit()
            return after_response(redirect(url_for("recovery.password_mail_sent",
                                                   flow=authorize)), outcome.later)
    return render_template("recovery/password_pupil.html", identifier=identifier,
                           errors=errors, authorize=authorize), 422 if errors else 200


@bp.get("/mot-de-passe/eleve/envoye")
def password_mail_sent():
    """The same page whether or not the account exists or has a confirmed address."""
    return render_template("recovery/password_mail_sent.html",
                           login_url=login_url(pending_authorization()),
                           minutes=service.LINK_TTL // 60)


@bp.route("/mot-de-passe/lien/<token>", methods=["GET", "POST"])
def password_link(token):
    """The link received by e-mail: GET shows the form, the POST uses the link up."""
    account = service.link_account(provider(), token)
    if account is None:
        db.session.commit()
        return render_error(400, "Lien expiré",
                            "Ce lien n'est plus valable : il a expiré, a déjà servi, ou le "
                            "mot de passe a été changé depuis. Faites une nouvelle demande.",
                            back_url=url_for("recovery.password_pupil"),
                            back_label="Faire une nouvelle demande")
    return _new_password(account, url_for("recovery.password_link", token=token), {},
                         lambda password: service.finish_link_reset(
                             provider(), token, password, _help_url()))


def _new_password(account, action, hidden, finish, authorize=None, step=None):
    """The new-password form; finish(password) sets it and returns an Outcome or None.
    step: (current, total) of the parent's SMS journey; a pupil's link has no steps
    before this page, so it shows none."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        new = (request.form.get("password") or "")[:1024]
        verdict = service.check_new_password(provider().config, account, new,
                                             request.form.get("confirmation") or "")
        if verdict.ok:
            outcome = finish(new)
            if outcome is None:
                db.session.commit()
                return _expired_page(authorize)
            page = render_template("recovery/password_done.html",
                                   identifier=outcome.identifier,
                                   login_url=login_url(authorize))
            return after_response(page, outcome.later)
        errors = password_errors(verdict.error)
    return render_template("recovery/password_new.html", identifier=account.identifier,
                           action=action, hidden=hidden, errors=errors, step=step,
                           min_length=provider().config["PASSWORD_MIN_LENGTH"]), \
        422 if errors else 200
