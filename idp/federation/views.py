"""Pages of the FranceConnect login: the round trip, the first-login identification
("Identification Éducation nationale": mobile, SMS code, children), linking from the
account page, and the return from FranceConnect's logout.

FranceConnect is for parents only: every page refuses other accounts. A session opened
through FranceConnect keeps FranceConnect's `auth_time` and its ID token, sealed, for
the logout; a service's prompt=login or max_age makes FranceConnect ask again."""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp.account.views import current_password_refused
from idp.activation import service as activation
from idp.auth.views import log_in
from idp.directory import family
from idp.directory.normalise import phone_e164
from idp.extensions import db
from idp.federation import service
from idp.federation.client import FederationError
from idp.models import Account
from idp.oauth import authorize as authorize_flow
from idp.oauth.logout import UPSTREAM_FLOW
from idp.services import audit
from idp.services.phone_codes import RESEND_AFTER
from idp.services.phone_codes import CodeNotSent
from idp.services.secrets import same
from idp.services.secrets import token_hash
from idp.web import after_response
from idp.web import current_sso
from idp.web import login_url
from idp.web import pending_authorization
from idp.web import provider
from idp.web import render_error

log = logging.getLogger(__name__)

bp = Blueprint("federation", __name__, url_prefix="/federation/franceconnect")

LOGIN_FLOW = "fc-login"
LINK_FLOW = "fc-identification"
TO_LOGIN = "Retour à la connexion"
TO_ACCOUNT = "Retour à mon compte"


def _unavailable(authorize=None):
    db.session.rollback()
    return render_error(
        502, "FranceConnect est momentanément indisponible",
        "La connexion avec FranceConnect n'a pas abouti. Vous pouvez réessayer dans quelques "
        "instants ou vous connecter avec votre identifiant EduConnect.",
        back_url=login_url(authorize), back_label=TO_LOGIN,
    )


def _not_a_parent(back_url, back_label):
    return render_error(403, "FranceConnect est réservé aux parents", service.NOT_A_PARENT,
                        back_url=back_url, back_label=back_label)


def _disabled(authorize=None):
    return render_error(
        403, "Compte désactivé",
        "Le compte EduConnect lié à votre identité FranceConnect est désactivé : vous ne "
        "pouvez pas vous y connecter. Contactez l'établissement de votre enfant.",
        back_url=login_url(authorize), back_label=TO_LOGIN,
    )


def _refused(account, authorize=None):
    """The page refusing a FranceConnect login to this account, or None: FranceConnect
    is for parents, and a disabled account is told so before anything else is done."""
    if not service.may_use(account):
        audit.record("federation.login_refused", account=account, reason="role")
        return _not_a_parent(login_url(authorize), TO_LOGIN)
    if account.status == "disabled":
        audit.record("federation.login_refused", account=account, reason="disabled")
        return _disabled(authorize)
    return None


def _upstream_prompt(authorize) -> str | None:
    """prompt=login for FranceConnect when the service asked for a fresh login: with
    prompt=login (or select_account: the person may want another identity), or with a
    max_age, which FranceConnect's single sign-on, of unknown age, could not meet."""
    data = provider().flows.get(authorize, authorize_flow.FLOW_KIND) if authorize else None
    params = (data or {}).get("params") or {}
    prompts = str(params.get("prompt") or "").split()
    if "login" in prompts or "select_account" in prompts or params.get("max_age"):
        return "login"
    return None


def _start(mode: str, authorize=None, account_id=None, prompt=None):
    client = provider().franceconnect
    if client is None:
        return render_error(404, "Page non trouvée", "FranceConnect n'est pas proposé ici.")
    try:
        nonce = client.new_state()["nonce"]
        # The flow id is the `state`: 32 random characters, stored only as a hash.
        # Bound to this browser, so that nobody can make another browser finish a login
        # they started (login CSRF).
        binding = secrets.token_urlsafe(16)
        session["fc_binding"] = binding
        state = provider().flows.create(LOGIN_FLOW, {"nonce": nonce, "mode": mode,
                                                     "authorize": authorize,
                                                     "account_id": account_id,
                                                     "binding": token_hash(binding)})
        url = client.authorize_url(state, nonce, prompt=prompt)
    except FederationError as exc:
        log.warning("FranceConnect unavailable: %s", exc)
        return _unavailable(authorize)
    db.session.commit()
    return redirect(url)


@bp.post("/connexion")
def login():
    """The "S'identifier avec FranceConnect" button (a POST, CSRF-protected)."""
    authorize = pending_authorization()
    return _start("login", authorize=authorize, prompt=_upstream_prompt(authorize))


@bp.route("/lier", methods=["GET", "POST"])
def link_start():
    """Link FranceConnect to the logged-in parent's account, from the account page: the
    current password first (a session left open must not be enough), then a fresh
    login at FranceConnect whose names must be the account's (checked on return)."""
    sso = current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    account = sso.account
    if not service.may_use(account):
        audit.record("federation.link_refused", account=account, reason="role")
        db.session.commit()
        return _not_a_parent(url_for("account.home"), TO_ACCOUNT)
    if provider().franceconnect is None:
        return render_error(404, "Page non trouvée", "FranceConnect n'est pas proposé ici.")
    if service.link_of(account) is not None:
        return render_error(409, "Déjà lié",
                            "Votre compte est déjà lié à une identité FranceConnect.",
                            back_url=url_for("account.home"), back_label=TO_ACCOUNT)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        status = current_password_refused(account, errors, "franceconnect")
        db.session.commit()
        if not status:
            return _start("link", account_id=account.id, prompt="login")
    return render_template("federation/link.html", account=account, errors=errors), status


@bp.post("/delier")
def unlink():
    """Remove the FranceConnect link (the account keeps its EduConnect password)."""
    sso = current_sso()
    if sso is None:
        return redirect(url_for("auth.login"))
    try:
        service.unlink(sso.account)
    except service.LinkError as exc:
        return render_error(400, "Impossible de délier FranceConnect", str(exc),
                            back_url=url_for("account.home"), back_label=TO_ACCOUNT)
    db.session.commit()
    return redirect(url_for("account.home"))


@bp.get("/retour")
def callback():
    """FranceConnect sends the browser back here with a code, or an error."""
    flow = provider().flows.take(request.args.get("state"), LOGIN_FLOW)
    binding = session.pop("fc_binding", "")
    if flow is not None and not same(token_hash(binding), flow.get("binding", "")):
        flow = None
    if flow is None:
        audit.record("federation.bad_state")
        db.session.commit()
        return render_error(400, "Connexion FranceConnect expirée",
                            "La connexion avec FranceConnect a expiré ou n'est pas valide. "
                            "Recommencez depuis la page de connexion.",
                            back_url=url_for("auth.login"), back_label=TO_LOGIN)
    authorize = flow.get("authorize")
    if request.args.get("error") or not request.args.get("code"):
        error = (request.args.get("error") or "no_code")[:64]
        audit.record("federation.upstream_error", error=error)
        db.session.commit()
        if error == "access_denied":
            return redirect(url_for("auth.login", flow=authorize) if authorize
                            else url_for("auth.login"))
        return _unavailable(authorize)
    try:
        upstream = provider().franceconnect.complete(request.args["code"][:512],
                                                     flow["nonce"])
    except FederationError as exc:
        log.warning("FranceConnect login refused: %s", exc)
        audit.record("federation.refused", reason=exc.reason)
        db.session.commit()
        return _unavailable(authorize)
    if flow["mode"] == "link":
        return _link_to_current(flow, upstream)
    # The ID token is needed again only for FranceConnect's logout: kept sealed.
    sealed = provider().franceconnect.seal_id_token(upstream.id_token)
    linked = service.find_linked(upstream.subject)
    if linked is not None:
        refused = _refused(linked.account, authorize)
        if refused is not None:
            db.session.commit()
            return refused
    if linked is not None and linked.account.status == "active":
        service.touch(linked, upstream.claims)
        audit.record("login.succeeded", account=linked.account, method="franceconnect")
        return _log_in(linked.account, authorize, id_token=sealed, acr=upstream.acr,
                       amr=upstream.amr, auth_time=upstream.auth_time)
    state = {"subject": upstream.subject, "claims": service.pivot(upstream.claims),
             "id_token": sealed, "acr": upstream.acr,
             "amr": upstream.amr, "auth_time": upstream.auth_time, "authorize": authorize}
    flow_id = provider().flows.create(LINK_FLOW, state)
    db.session.commit()
    # The service's request rides along in the address of each step, to be found again
    # when the identification has expired.
    return redirect(url_for("federation.identify", f=flow_id, flow=authorize))


def _log_in(account, authorize, *, id_token: str, acr: str, amr: list[str],
            auth_time: int | None):
    """Open a fresh session and continue; its auth_time is when the person authenticated
    at FranceConnect (its single sign-on may have answered without asking), and it keeps
    the ID token, sealed, for FranceConnect's logout."""
    return log_in(account, authorize, amr=["fc", *[a for a in amr if a != "fc"]], acr=acr,
                  extra={service.SESSION_HINT_KEY: id_token}, auth_time=auth_time)


def _link_to_current(flow, upstream):
    sso = current_sso()
    if sso is None or sso.account_id != flow.get("account_id"):
        db.session.commit()
        return redirect(url_for("auth.login"))
    account = sso.account
    if not service.may_use(account):
        audit.record("federation.link_refused", account=account, reason="role")
        db.session.commit()
        return _not_a_parent(url_for("account.home"), TO_ACCOUNT)
    try:
        service.link_from_account_page(account, upstream.subject, upstream.claims)
    except service.LinkError as exc:
        # The flow is used up, and the refusal audited; nothing is linked.
        db.session.commit()
        return render_error(exc.status, "Liaison impossible", str(exc),
                            back_url=url_for("account.home"), back_label=TO_ACCOUNT)
    later = service.linked_notice_job(provider(), account,
                                      url_for("pages.help", _external=True))
    db.session.commit()
    flash("Votre identité FranceConnect est liée à votre compte : vous pouvez vous "
          "connecter avec FranceConnect.", "success")
    return after_response(redirect(url_for("account.home")), later)


def _load():
    flow_id = request.values.get("f")
    return flow_id, provider().flows.get(flow_id, LINK_FLOW)


def _expired(data=None):
    db.session.rollback()
    # The identification starts again with "S'identifier avec FranceConnect", on the
    # login page of the same service's request.
    return render_error(400, "Session expirée",
                        f"Votre identification a expiré : elle doit être terminée dans les "
                        f"{activation.flow_minutes()} minutes. Recommencez depuis la page "
                        f"de connexion.",
                        back_url=login_url(pending_authorization(data)), back_label=TO_LOGIN)


@bp.route("/identification", methods=["GET", "POST"])
def identify():
    """First login: the mobile number known to the school, matched with the identity."""
    flow_id, data = _load()
    if data is None:
        return _expired()
    errors: dict[str, str] = {}
    status = 200
    mobile = ""
    if request.method == "POST":
        # Kept for the page that answers, like the other mobile forms.
        mobile = request.form.get("mobile", "")[:32]
        phone = phone_e164(mobile)
        if phone is None:
            errors["mobile"] = "Saisissez un numéro de téléphone portable valide, par " \
                               "exemple 06 12 34 56 78."
        else:
            identity = service.match_pivot(data["claims"], phone)
            known = db.session.get(Account, identity.account_id) \
                if identity is not None and identity.account_id is not None else None
            refused = _refused(known, pending_authorization(data)) if known else None
            if refused is not None:
                provider().flows.delete(flow_id)
                db.session.commit()
                return refused
            if identity is None:
                audit.record("federation.mismatch")
                provider().flows.delete(flow_id)
                db.session.commit()
                return render_error(
                    403, "Identification impossible",
                    "Votre identité FranceConnect et ce numéro de téléphone ne "
                    "correspondent à aucun représentant légal connu des établissements. "
                    "Contactez l'établissement de votre enfant pour vérifier les "
                    "informations qu'il détient (nom de naissance, prénom, téléphone "
                    "portable). Aucun compte n'a été lié.",
                    back_url=login_url(pending_authorization(data)), back_label=TO_LOGIN,
                )
            data.update({"identity_id": identity.id, "phone": phone})
            try:
                provider().phone_codes.send(data, phone, "activation_code")
            except CodeNotSent as exc:
                db.session.rollback()
                errors["mobile"] = exc.message
                status = 503 if exc.reason == "gateway" else 429
            else:
                provider().flows.update(flow_id, LINK_FLOW, data)
                db.session.commit()
                return redirect(url_for("federation.code", f=flow_id,
                                        flow=pending_authorization(data)))
        status = status if status != 200 else 422
    return render_template("federation/identify.html", flow_id=flow_id, errors=errors,
                           given_name=data["claims"].get("given_name", ""), mobile=mobile,
                           authorize=pending_authorization(data),
                           minutes=activation.flow_minutes()), status


@bp.route("/identification/code", methods=["GET", "POST"])
def code():
    """The SMS code proves the mobile number."""
    flow_id, data = _load()
    if data is None or not data.get("identity_id"):
        return _expired(data)
    codes = provider().phone_codes
    errors: dict[str, str] = {}
    notice = None
    status = 200
    if request.method == "POST" and request.form.get("action") == "resend":
        try:
            codes.send(data, data["phone"], "activation_code")
            notice = {"level": "success", "text": "Un nouveau code vous a été envoyé."}
        except CodeNotSent as exc:
            notice = activation.not_sent_notice(exc)
            status = 429 if exc.reason != "gateway" else 503
        provider().flows.update(flow_id, LINK_FLOW, data)
        db.session.commit()
    elif request.method == "POST":
        result = codes.check(data, request.form.get("code", ""))
        if result.ok:
            identity = activation.identity_locked(data["identity_id"])
            account = activation.parent_account_for(identity)
            data["account_id"] = account.id
            provider().flows.update(flow_id, LINK_FLOW, data)
            audit.record("federation.phone_verified", account=account)
            db.session.commit()
            return redirect(url_for("federation.children", f=flow_id,
                                    flow=pending_authorization(data)))
        errors["code"] = result.message
        status = 401
        if result.outcome != "format":
            audit.record("federation.code_refused", outcome=result.outcome,
                         identity_id=data["identity_id"])
        provider().flows.update(flow_id, LINK_FLOW, data)
        db.session.commit()
    return render_template("federation/code.html", flow_id=flow_id, errors=errors,
                           notice=notice, phone=activation.masked_phone(data["phone"]),
                           authorize=pending_authorization(data), resend_after=RESEND_AFTER), status


@bp.route("/identification/enfants", methods=["GET", "POST"])
def children():
    """The children are confirmed by their dates of birth; then the identity is linked."""
    flow_id, data = _load()
    if data is None or not data.get("account_id"):
        return _expired(data)
    account = db.session.get(Account, data["account_id"])
    pupils = activation.children_to_confirm(account)
    answers = {p.id: {"birthdate": "", "refused": False} for p in pupils}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        answers = {p.id: {"birthdate": request.form.get(f"birthdate-{p.id}", "")[:20],
                          "refused": request.form.get(f"refused-{p.id}") == "1"}
                   for p in pupils}
        wrong = activation.check_children(account, answers)
        if not wrong:
            taken = provider().flows.take(flow_id, LINK_FLOW)
            if taken is None:
                return _expired(data)
            identity = activation.identity_locked(taken["identity_id"])
            account = db.session.get(Account, taken["account_id"])
            refused = _refused(account, pending_authorization(taken))
            if refused is not None:
                db.session.commit()
                return refused
            activation.record_children(account, answers)
            service.activate_without_password(account, taken["phone"])
            family.link_parent_account(account, identity)
            previous = service.link_of(account)
            moved = previous is not None and previous.subject != taken["subject"]
            try:
                # An account without a password has no other way in: having just proven
                # it is theirs (mobile, SMS code, children), the person's new FranceConnect
                # identity replaces the old one (FranceConnect's `sub` changed).
                row = service.link(account, taken["subject"], taken["claims"],
                                   replace=not account.password_hash)
            except service.LinkError as exc:
                db.session.rollback()
                return render_error(exc.status, "Liaison impossible", str(exc),
                                    back_url=login_url(pending_authorization(taken)),
                                    back_label=TO_LOGIN)
            service.touch(row, taken["claims"])
            # The account's only way in changed hands: its owner is told, as for a link
            # made from the account page.
            later = service.linked_notice_job(provider(), account, url_for(
                "pages.help", _external=True)) if moved else None
            return after_response(
                _log_in(account, taken.get("authorize"), id_token=taken["id_token"],
                        acr=taken["acr"], amr=taken["amr"], auth_time=taken.get("auth_time")),
                later)
        data["birth_tries"] = data.get("birth_tries", 0) + 1
        if data["birth_tries"] >= activation.MAX_BIRTHDATE_TRIES:
            provider().flows.delete(flow_id)
            db.session.commit()
            return render_error(403, "Identification impossible",
                                "Les dates de naissance saisies ne correspondent pas. "
                                "Contactez l'établissement de votre enfant.",
                                back_url=login_url(pending_authorization(data)),
                                back_label=TO_LOGIN)
        provider().flows.update(flow_id, LINK_FLOW, data)
        db.session.commit()
        errors = {f"birthdate-{pid}": message for pid, message in wrong.items()}
        status = 422
    return render_template("activation/parent_children.html", flow_id=flow_id,
                           pupils=pupils, answers=answers, errors=errors, step=3,
                           total=4, next_title="Accès aux services"), status


@bp.get("/deconnexion")
def logged_out():
    """FranceConnect sends the browser back here after its own logout."""
    flow = provider().flows.take(request.args.get("state"), UPSTREAM_FLOW)
    db.session.commit()
    if flow is None:
        return redirect(url_for("oauth.logged_out"))
    return redirect(flow["target"])
