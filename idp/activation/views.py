"""Activation pages ("Je n'ai pas de compte", first login of a distributed account).

Each step reads and writes the flow named by the `f` parameter; the account changes
only at the last step, by the one request that takes the flow (a double submission
creates nothing twice).
"""

from __future__ import annotations

from flask import Blueprint
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp.activation import service
from idp.auth.views import log_in
from idp.directory.normalise import phone_e164
from idp.extensions import db
from idp.metrics import ACTIVATIONS
from idp.models import Account
from idp.services import audit
from idp.services import password_policy
from idp.services.phone_codes import RESEND_AFTER
from idp.services.phone_codes import CodeNotSent
from idp.services.phone_codes import PhoneCodes
from idp.web import client_ip
from idp.web import pending_authorization
from idp.web import provider
from idp.web import render_error

bp = Blueprint("activation", __name__, url_prefix="/activation")

MISMATCH = (
    "Les informations saisies ne permettent pas de vous identifier. Vérifiez votre nom, "
    "votre prénom et votre numéro de téléphone portable : ce sont ceux que vous avez "
    "donnés à l'établissement de votre enfant. Si le problème persiste, contactez "
    "l'établissement."
)
#: Step 4 of a parent's activation: the identifier is shown, a password is chosen (the
#: guide's "Affichage de l'identifiant et choix d'un mot de passe").
CREDENTIALS_STEP = "Identifiant et mot de passe"


def _codes() -> PhoneCodes:
    return provider().phone_codes


def _expired_page(kind=service.PARENT_FLOW, data=None):
    db.session.rollback()
    authorize = pending_authorization(data)
    minutes = service.flow_minutes()
    if kind == service.PARENT_FLOW:
        # The parent's journey starts again at "Activer mon compte", for the same service.
        return render_error(
            400, "Session expirée",
            f"Votre activation a expiré ou a déjà été terminée : une activation doit être "
            f"terminée dans les {minutes} minutes. Recommencez-la depuis le début.",
            back_url=url_for("activation.parent_identify", flow=authorize),
            back_label="Recommencer",
        )
    # A distributed account's activation starts at the login page, with the provisional
    # password.
    return render_error(
        400, "Session expirée",
        f"Votre activation a expiré ou a déjà été terminée : une activation doit être "
        f"terminée dans les {minutes} minutes. Reconnectez-vous avec votre identifiant et "
        f"votre mot de passe provisoire pour la recommencer.",
        back_url=url_for("auth.login", flow=authorize), back_label="Retour à la connexion",
    )


def _load(kind: str):
    flow_id = request.values.get("f")
    data = provider().flows.get(flow_id, kind)
    return flow_id, data


def _save(flow_id, kind, data):
    provider().flows.update(flow_id, kind, data)
    db.session.commit()


def _password_form(account, errors, data):
    return {"identifier": account.identifier, "errors": errors,
            "min_length": provider().config["PASSWORD_MIN_LENGTH"], "hint": data.get("hint")}


def _check_password(account):
    cfg = provider().config
    return password_policy.check(
        request.form.get("password", ""), request.form.get("confirmation", ""),
        min_length=cfg["PASSWORD_MIN_LENGTH"], min_score=cfg["PASSWORD_MIN_SCORE"],
        personal=[account.identifier, account.given_name, account.family_name],
    )


def _children_answers(pupils) -> dict[int, dict]:
    return {
        pupil.id: {"birthdate": request.form.get(f"birthdate-{pupil.id}", "")[:20],
                   "refused": request.form.get(f"refused-{pupil.id}") == "1"}
        for pupil in pupils
    }


# -- start ------------------------------------------------------------------------------


@bp.get("/")
def start():
    """Who activates how: parents by SMS, pupils with their school's credentials."""
    return render_template("activation/start.html", authorize=request.args.get("flow"),
                           minutes=service.flow_minutes())


# -- parents' self-activation -------------------------------------------------------------


@bp.route("/parent", methods=["GET", "POST"])
def parent_identify():
    """Step 1: family name, first name and mobile, matched against the directory."""
    errors: dict[str, str] = {}
    form = {"family_name": "", "given_name": "", "mobile": ""}
    authorize = request.values.get("flow")
    status = 200
    if request.method == "POST":
        form = {k: (request.form.get(k) or "").strip()[:128] for k in form}
        if not form["family_name"]:
            errors["family_name"] = "Saisissez votre nom."
        if not form["given_name"]:
            errors["given_name"] = "Saisissez votre prénom."
        phone = phone_e164(form["mobile"])
        if not form["mobile"]:
            errors["mobile"] = "Saisissez votre numéro de téléphone portable."
        elif phone is None:
            errors["mobile"] = "Saisissez un numéro de téléphone portable valide, par " \
                               "exemple 06 12 34 56 78."
        if not errors and not provider().ratelimiter.hit(f"activation-ip:{client_ip()}", 20,
                                                         300):
            errors["family_name"] = "Trop de tentatives depuis votre réseau. Réessayez dans " \
                                    "quelques minutes."
            status = 429
        if not errors:
            identity = service.match_parent(form["family_name"], form["given_name"], phone)
            if identity is None:
                audit.record("activation.parent_mismatch", identifier=None)
                db.session.commit()
                errors["family_name"] = MISMATCH
                status = 422
            else:
                data = {"identity_id": identity.id, "phone": phone, "authorize": authorize,
                        "step": "code"}
                try:
                    _codes().send(data, phone, "activation_code")
                except CodeNotSent as exc:
                    db.session.rollback()
                    errors["mobile"] = exc.message
                    status = 503 if exc.reason == "gateway" else 429
                else:
                    flow_id = provider().flows.create(service.PARENT_FLOW, data)
                    audit.record("activation.code_sent", identity_id=identity.id)
                    db.session.commit()
                    return redirect(url_for("activation.parent_code", f=flow_id,
                                            flow=pending_authorization(data)))
    return render_template("activation/parent_identify.html", form=form, errors=errors,
                           authorize=authorize, minutes=service.flow_minutes()), status


@bp.route("/parent/code", methods=["GET", "POST"])
def parent_code():
    """Step 2: the code received by SMS (3 tries, 10 minutes, resend after 60 s)."""
    flow_id, data = _load(service.PARENT_FLOW)
    if data is None:
        return _expired_page()
    authorize = pending_authorization(data)
    errors, notice, status = {}, None, 200
    if request.method == "POST" and request.form.get("action") == "resend":
        try:
            _codes().send(data, data["phone"], "activation_code")
            notice = {"level": "success", "text": "Un nouveau code vous a été envoyé."}
            _save(flow_id, service.PARENT_FLOW, data)
        except CodeNotSent as exc:
            notice = service.not_sent_notice(exc)
            status = 429 if exc.reason != "gateway" else 503
    elif request.method == "POST":
        result = _codes().check(data, request.form.get("code", ""))
        if result.ok:
            identity = service.identity_locked(data["identity_id"])
            account = service.parent_account_for(identity)
            data.update({"account_id": account.id, "step": "children",
                         "existing": account.status == "active"})
            audit.record("activation.phone_verified", account=account)
            _save(flow_id, service.PARENT_FLOW, data)
            if data["existing"]:
                return redirect(url_for("activation.parent_existing", f=flow_id,
                                        flow=authorize))
            return redirect(url_for("activation.parent_children", f=flow_id,
                                    flow=authorize))
        errors["code"] = result.message
        status = 401
        if result.outcome != "format":
            audit.record("activation.code_refused", outcome=result.outcome,
                         identity_id=data["identity_id"])
        _save(flow_id, service.PARENT_FLOW, data)
    return render_template("activation/parent_code.html", flow_id=flow_id, errors=errors,
                           notice=notice, phone=service.masked_phone(data["phone"]),
                           authorize=authorize, resend_after=RESEND_AFTER), status


@bp.get("/parent/compte-existant")
def parent_existing():
    """A parent who already has an account is sent to log in or recover it."""
    flow_id, data = _load(service.PARENT_FLOW)
    if data is None or not data.get("existing"):
        return _expired_page()
    account = db.session.get(Account, data["account_id"])
    provider().flows.delete(flow_id)
    db.session.commit()
    return render_template("activation/parent_existing.html", identifier=account.identifier,
                           authorize=data.get("authorize"))


@bp.route("/parent/enfants", methods=["GET", "POST"])
def parent_children():
    """Step 3: confirm each child with their date of birth, or refuse the link."""
    # The next step's title is the one its own stepper shows (and the guide's step 4).
    return _children_step(service.PARENT_FLOW, "activation.parent_password",
                          "activation/parent_children.html", step=3, total=5,
                          next_title=CREDENTIALS_STEP)


def _birthdate_mismatch(flow_id, kind, data, account, final_message):
    """Count a wrong birth date; after too many, end the flow and return the page."""
    data["birth_tries"] = data.get("birth_tries", 0) + 1
    audit.record("activation.birthdate_mismatch", account=account, tries=data["birth_tries"])
    if data["birth_tries"] >= service.MAX_BIRTHDATE_TRIES:
        provider().flows.delete(flow_id)
        db.session.commit()
        return render_error(403, "Activation impossible", final_message,
                            back_url=url_for("auth.login", flow=pending_authorization(data)),
                            back_label="Retour à la connexion")
    _save(flow_id, kind, data)
    return None


def _children_step(kind, next_endpoint, template, step, total, next_title):
    flow_id, data = _load(kind)
    if data is None or not data.get("account_id"):
        return _expired_page(kind, data)
    account = db.session.get(Account, data["account_id"])
    pupils = service.children_to_confirm(account)
    errors: dict[str, str] = {}
    answers = {p.id: {"birthdate": "", "refused": False} for p in pupils}
    status = 200
    if request.method == "POST":
        answers = _children_answers(pupils)
        wrong = service.check_children(account, answers)
        if not wrong:
            data["children"] = {str(k): v for k, v in answers.items()}
            data["step"] = "password" if kind == service.PARENT_FLOW else "email"
            _save(flow_id, kind, data)
            return redirect(url_for(next_endpoint, f=flow_id, flow=pending_authorization(data)))
        ended = _birthdate_mismatch(
            flow_id, kind, data, account,
            "Les dates de naissance saisies ne correspondent pas à celles connues des "
            "établissements. Contactez l'établissement de votre enfant.")
        if ended is not None:
            return ended
        errors = {f"birthdate-{pid}": message for pid, message in wrong.items()}
        status = 422
    return render_template(template, flow_id=flow_id, pupils=pupils, answers=answers,
                           errors=errors, step=step, total=total,
                           next_title=next_title), status


@bp.route("/parent/mot-de-passe", methods=["GET", "POST"])
def parent_password():
    """Step 4: the identifier is shown; the parent chooses a password."""
    flow_id, data = _load(service.PARENT_FLOW)
    if data is None or data.get("step") != "password":
        return _expired_page(service.PARENT_FLOW, data)
    account = db.session.get(Account, data["account_id"])
    errors: dict[str, str] = {}
    if request.method == "POST":
        verdict = _check_password(account)
        if verdict.ok:
            taken = provider().flows.take(flow_id, service.PARENT_FLOW)
            if taken is None:
                return _expired_page(service.PARENT_FLOW, data)
            identity = service.identity_locked(taken["identity_id"])
            account = db.session.get(Account, taken["account_id"])
            if account.status == "active":
                return _expired_page(service.PARENT_FLOW, data)
            answers = {int(k): v for k, v in taken["children"].items()}
            service.record_children(account, answers)
            service.finish(account, password_hash=provider().passwords.hash(
                request.form["password"]), phone=taken["phone"], identity=identity,
                kind="parent")
            ACTIVATIONS.labels("parent_sms").inc()
            return log_in(account, taken.get("authorize"))
        errors = service.password_errors(verdict.error)
    return render_template("activation/password.html", flow_id=flow_id,
                           action=url_for("activation.parent_password",
                                          flow=pending_authorization(data)),
                           step=4, total=5, step_title=CREDENTIALS_STEP,
                           next_title="Accès aux services",
                           **_password_form(account, errors, data)), 422 if errors else 200


# -- distributed accounts (pupils, parents) ------------------------------------------------


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
def account_password():
    """Step 1: replace the provisional password (kept in the flow until the end)."""
    flow_id, data = _load(service.ACCOUNT_FLOW)
    if data is None:
        return _expired_page(service.ACCOUNT_FLOW)
    account = db.session.get(Account, data["account_id"])
    errors: dict[str, str] = {}
    if request.method == "POST":
        verdict = _check_password(account)
        if verdict.ok:
            data["password_hash"] = provider().passwords.hash(request.form["password"])
            data["step"] = "identity"
            _save(flow_id, service.ACCOUNT_FLOW, data)
            return redirect(url_for("activation.account_identity", f=flow_id,
                                    flow=pending_authorization(data)))
        errors = service.password_errors(verdict.error)
    # Step 2 confirms a parent's children, a pupil's own birth date.
    next_title = "Confirmation des enfants" if account.role == "responsable" \
        else "Confirmation de l'identité"
    return render_template("activation/password.html", flow_id=flow_id,
                           action=url_for("activation.account_password",
                                          flow=pending_authorization(data)),
                           step=1, total=4, step_title="Choix du mot de passe",
                           next_title=next_title, minutes=service.flow_minutes(),
                           **_password_form(account, errors, data)), 422 if errors else 200


@bp.route("/compte/identite", methods=["GET", "POST"])
def account_identity():
    """Step 2: a pupil confirms their date of birth; a parent confirms their children."""
    flow_id, data = _load(service.ACCOUNT_FLOW)
    if data is None or not data.get("password_hash"):
        return _expired_page(service.ACCOUNT_FLOW, data)
    account = db.session.get(Account, data["account_id"])
    if account.role == "responsable":
        return _children_step(service.ACCOUNT_FLOW, "activation.account_email",
                              "activation/parent_children.html", step=2, total=4,
                              next_title="Adresse électronique")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        given = service.parse_birthdate(request.form.get("birthdate", "")[:20])
        pupil = service.pupil_of(account)
        expected = pupil.birthdate if pupil else account.birthdate
        if given is not None and expected is not None and given == expected:
            data["step"] = "email"
            _save(flow_id, service.ACCOUNT_FLOW, data)
            return redirect(url_for("activation.account_email", f=flow_id,
                                    flow=pending_authorization(data)))
        ended = _birthdate_mismatch(
            flow_id, service.ACCOUNT_FLOW, data, account,
            "La date de naissance saisie ne correspond pas. Adressez-vous à votre "
            "établissement.")
        if ended is not None:
            return ended
        errors["birthdate"] = ("Saisissez la date au format JJ/MM/AAAA." if given is None
                               else "La date de naissance ne correspond pas à celle connue "
                                    "de l'établissement.")
        status = 422
    return render_template("activation/pupil_identity.html", flow_id=flow_id, errors=errors,
                           step=2, total=4, authorize=pending_authorization(data)), status


@bp.route("/compte/courriel", methods=["GET", "POST"])
def account_email():
    """Step 3: an e-mail address for self-service recovery (optional for pupils)."""
    flow_id, data = _load(service.ACCOUNT_FLOW)
    if data is None or data.get("step") != "email":
        return _expired_page(service.ACCOUNT_FLOW, data)
    account = db.session.get(Account, data["account_id"])
    required = account.role == "responsable"
    errors: dict[str, str] = {}
    email = ""
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()[:254]
        skip = request.form.get("action") == "skip" and not required
        if not skip and not _valid_email(email):
            errors["email"] = "Saisissez une adresse électronique valide, par exemple " \
                              "nom@exemple.fr."
        if not errors:
            taken = provider().flows.take(flow_id, service.ACCOUNT_FLOW)
            if taken is None:
                return _expired_page(service.ACCOUNT_FLOW, data)
            account = db.session.get(Account, taken["account_id"])
            if account.status != "provisional":
                return _expired_page(service.ACCOUNT_FLOW, data)
            if account.role == "responsable":
                service.record_children(account, {int(k): v for k, v in
                                                  taken.get("children", {}).items()})
            service.finish(account, password_hash=taken["password_hash"],
                           kind=account.role + "_distributed")
            if not skip:
                _send_email_confirmation(account, email)
            ACTIVATIONS.labels(account.role + "_distributed").inc()
            response = log_in(account, taken.get("authorize"))
            if skip:
                return response
            return _activated_page(response, email, account)
    return render_template("activation/email.html", flow_id=flow_id, errors=errors,
                           email=email, required=required, step=3, total=4,
                           authorize=pending_authorization(data)), 422 if errors else 200


def _activated_page(response, email: str, account):
    """After the last step, when an address was given: send the browser to the page that
    says where the confirmation link went (post/redirect/get: reloading that page shows it
    again, it never posts the finished form twice).

    response: log_in's redirect, whose session cookie the redirect keeps.
    """
    page_id = provider().flows.create(service.ACTIVATED_FLOW, {
        "email": email, "next_url": response.location, "pupil": account.role == "eleve",
    }, ttl=service.ACTIVATED_TTL)
    db.session.commit()
    response.location = url_for("activation.activated", f=page_id)
    response.status_code = 303
    return response


@bp.get("/compte/activee")
def activated():
    """Step 4: the account is active; the confirmation link went to the address given."""
    _flow_id, data = _load(service.ACTIVATED_FLOW)
    if data is None:
        # Reloaded long after: the account is active, its page is the place to go.
        return redirect(url_for("account.home"))
    return render_template(
        "activation/activated.html", email=data["email"], next_url=data["next_url"],
        to_service=data["next_url"] != url_for("account.home"), pupil=data["pupil"],
        step=4, total=4, hours=service.EMAIL_TTL // 3600)


def _valid_email(email: str) -> bool:
    local, _, domain = email.partition("@")
    return bool(local) and "." in domain and " " not in email and len(email) <= 254 \
        and not domain.startswith(".") and not domain.endswith(".")


def _send_email_confirmation(account, email: str) -> None:
    """Send the 24-hour confirmation link; a failed send leaves the address unconfirmed."""
    token = provider().flows.create(
        service.EMAIL_FLOW, {"account_id": account.id, "email": email,
                             "stamp": account.security_stamp}, ttl=service.EMAIL_TTL)
    link = url_for("activation.confirm_email", token=token, _external=True)
    try:
        provider().messages.mail(email, "email_confirmation", link=link,
                                 identifier=account.identifier, hours=24)
        audit.record("email.confirmation_sent", account=account)
    except Exception:  # noqa: BLE001 - the activation itself must not fail on mail
        audit.record("email.confirmation_failed", account=account)
    db.session.commit()


@bp.route("/courriel/<token>", methods=["GET", "POST"])
def confirm_email(token):
    """The link sent by e-mail; a button confirms (link scanners only GET)."""
    data = provider().flows.get(token, service.EMAIL_FLOW)
    if data is None:
        return render_error(400, "Lien expiré",
                            "Ce lien de confirmation a expiré ou a déjà été utilisé.")
    if request.method == "POST":
        taken = provider().flows.take(token, service.EMAIL_FLOW)
        account = db.session.get(Account, taken["account_id"]) if taken else None
        if account is None or account.security_stamp != taken["stamp"]:
            return render_error(400, "Lien expiré",
                                "Ce lien de confirmation n'est plus valable.")
        account.email = taken["email"]
        account.email_verified = True
        audit.record("email.confirmed", account=account)
        db.session.commit()
        return render_template("activation/email_confirmed.html", email=taken["email"])
    return render_template("activation/email_confirm.html", token=token, email=data["email"])
