"""The school account administrators' console, under /admin.

Every page needs an SSO session of an active "admin" account opened with the second
factor (amr contains "otp"); a session from the ordinary login page never qualifies.
An administrator sees only the schools of their AdminScope rows.
"""

from __future__ import annotations

from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from idp.admin import console
from idp.admin import distribution
from idp.admin import notices
from idp.admin import roster
from idp.admin import totp
from idp.extensions import db
from idp.models import Account
from idp.oauth import logout as logout_flow
from idp.services import audit
from idp.web import client_ip
from idp.web import current_sso
from idp.web import provider
from idp.web import render_error
from idp.web import set_sso_cookie

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The first step's success waits for the code in a short flow, named in the Flask session.
FLOW_KIND = "admin-login"
PENDING = "admin_login"
PENDING_TTL = 300
PUBLIC_ENDPOINTS = {"admin.login", "admin.login_code"}
# Longer lists are cut: a whole school on one page is too long to read anyway.
MAX_ROWS = 300

MESSAGES = {
    "invalid": "Identifiant ou mot de passe incorrect.",
    "missing_identifier": "Saisissez votre identifiant.",
    "missing_password": "Saisissez votre mot de passe.",
    "not_admin": (
        "Cet espace est réservé aux administrateurs des comptes des établissements. "
        "Pour accéder à vos services, utilisez la page de connexion habituelle."
    ),
    "no_totp": (
        "La double authentification de ce compte n'est pas configurée : demandez à "
        "l'assistance de votre académie de l'activer."
    ),
    "ip_limited": (
        "Trop de tentatives de connexion depuis votre réseau. Patientez une minute "
        "puis réessayez."
    ),
    "missing_code": "Saisissez le code à 6 chiffres affiché par votre application.",
    "bad_code": (
        "Code incorrect ou déjà utilisé. Saisissez le code à 6 chiffres affiché "
        "actuellement par votre application d'authentification."
    ),
    "expired": "Votre connexion a expiré : saisissez de nouveau votre identifiant et votre "
               "mot de passe.",
    "missing_class": "Choisissez la classe dont vous voulez imprimer les notifications.",
    "bad_role": "Choisissez pour qui imprimer les notifications.",
}

ROLE_CHOICES = {"eleve": "eleve", "responsable": "responsable", "tous": None}


def _locked_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Ce compte est temporairement bloqué après plusieurs tentatives infructueuses. "
        f"Réessayez dans {minutes} {unit}."
    )


def console_session():
    """The browser's SSO session if it may use the console (admin, second factor), or None."""
    sso = current_sso()
    if sso is None or "otp" not in (sso.amr or []):
        return None
    if sso.account.role != console.ADMIN_ROLE or sso.account.status != "active":
        return None
    return sso


@bp.before_request
def _require_console_session():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    sso = console_session()
    if sso is None:
        return redirect(url_for("admin.login"))
    g.console_sso = sso
    g.admin = sso.account
    return None


@bp.app_template_global("admin_state_label")
def state_label(state: str, role: str) -> str:
    """French label of an account state in the console."""
    labels = {"active": "Activé", "provisional": "Notification remise",
              "disabled": "Désactivé",
              "none": "Non distribué" if role == "eleve" else "Sans compte"}
    return labels.get(state, state)


# -- login ----------------------------------------------------------------------------


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """First step: identifier and password of an administrator account."""
    if request.method == "GET" and console_session() is not None:
        return redirect(url_for("admin.index"))
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
            cfg = provider().config
            if not provider().ratelimiter.hit(f"login-ip:{client_ip()}",
                                              cfg["RATELIMIT_LOGIN_PER_IP"],
                                              cfg["RATELIMIT_LOGIN_WINDOW"]):
                errors["identifier"], status = MESSAGES["ip_limited"], 429
            else:
                result = console.check_password(provider(), identifier, password[:1024])
                if result.outcome == "password_ok":
                    session[PENDING] = provider().flows.create(
                        FLOW_KIND, {"account_id": result.account.id,
                                    "stamp": result.account.security_stamp},
                        ttl=PENDING_TTL,
                    )
                    db.session.commit()
                    return redirect(url_for("admin.login_code"))
                db.session.commit()
                status, field, message = {
                    "invalid": (401, "password", MESSAGES["invalid"]),
                    "locked": (423, "identifier", _locked_message(result.retry_after)),
                    "not_admin": (403, "identifier", MESSAGES["not_admin"]),
                    "no_totp": (403, "identifier", MESSAGES["no_totp"]),
                }[result.outcome]
                errors[field] = message
    return render_template("admin/login.html", identifier=identifier, errors=errors), status


def _pending_account():
    """The account whose password was accepted in this browser, if still pending."""
    flow_id = session.get(PENDING)
    pending = provider().flows.get(flow_id, FLOW_KIND)
    if pending is None:
        return flow_id, None
    account = db.session.get(Account, pending["account_id"])
    # Credentials changed since the password step: start again.
    if account is None or account.security_stamp != pending["stamp"]:
        return flow_id, None
    return flow_id, account


def _restart(message: str, category: str = "error"):
    flow_id = session.pop(PENDING, None)
    provider().flows.delete(flow_id)
    db.session.commit()
    flash(message, category)
    return redirect(url_for("admin.login"))


@bp.route("/connexion/code", methods=["GET", "POST"])
def login_code():
    """Second step: the TOTP code; opens the console session."""
    flow_id, account = _pending_account()
    if account is None:
        return _restart(MESSAGES["expired"], "info") if flow_id else redirect(
            url_for("admin.login"))
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        code = totp.normalise_code(request.form.get("code"))[:32]
        if not code:
            errors["code"], status = MESSAGES["missing_code"], 400
        else:
            result = console.check_code(provider(), account, code)
            if result.outcome == "ok":
                return _open_console(account, flow_id)
            if result.outcome != "invalid":
                db.session.commit()
                return _restart(_locked_message(result.retry_after)
                                if result.outcome == "locked" else MESSAGES["not_admin"])
            db.session.commit()
            errors["code"], status = MESSAGES["bad_code"], 401
    return render_template("admin/login_code.html", errors=errors), status


def _open_console(account, flow_id):
    """Open a session with both factors (rotating any previous one) and enter."""
    session.pop(PENDING, None)
    provider().flows.delete(flow_id)
    previous = current_sso()
    if previous is not None:
        logout_flow.end_session(previous, reason="replaced")
    secret, _ = provider().sessions.create(account, amr=["pwd", "otp"], acr="eidas1")
    db.session.commit()
    return set_sso_cookie(redirect(url_for("admin.index")), secret)


@bp.post("/deconnexion")
def logout():
    """Leave the console (ends the session, CSRF-protected)."""
    logout_flow.end_session(g.console_sso, reason="logout")
    flash("Vous êtes déconnecté de la console d'administration.", "success")
    return set_sso_cookie(redirect(url_for("admin.login")), None)


# -- schools ----------------------------------------------------------------------------


@bp.get("/")
def index():
    """The schools the administrator manages, with their statistics."""
    schools = [(uai, roster.school(uai)) for uai in roster.scopes_of(g.admin)]
    stats = {uai: roster.statistics(row) for uai, row in schools if row is not None}
    return render_template("admin/index.html", schools=schools, stats=stats)


def _managed_school(uai: str):
    """(school, None) if the administrator manages it, else (None, error page)."""
    uai = (uai or "").strip().upper()[:8]
    if not roster.may_manage(g.admin, uai):
        audit.record("admin.scope_refused", account=g.admin, uai=uai)
        db.session.commit()
        return None, render_error(
            403, "Accès refusé",
            "Vous n'administrez pas les comptes de cet établissement.",
            back_url=url_for("admin.index"),
        )
    row = roster.school(uai)
    if row is None:
        return None, render_error(
            404, "Établissement absent de l'annuaire",
            "Les élèves de cet établissement n'ont pas encore été importés. Réessayez "
            "après la prochaine importation de la base élèves.",
            back_url=url_for("admin.index"),
        )
    return row, None


def _school_page(school_row, *, form=None, errors=None, status=200):
    division = request.args.get("classe") or None
    query = (request.args.get("q") or "").strip()[:100]
    divisions = roster.divisions(school_row)
    if division not in divisions:
        division = None
    pupils = [p for p in roster.pupils(school_row, division) if p.matches(query)]
    parents = [p for p in roster.parents(school_row, division) if p.matches(query)]
    shown = pupils[:MAX_ROWS] + parents[:MAX_ROWS]
    return render_template(
        "admin/school.html", school=school_row, divisions=divisions, division=division,
        query=query, stats=roster.statistics(school_row),
        pupils=pupils[:MAX_ROWS], parents=parents[:MAX_ROWS],
        pupils_total=len(pupils), parents_total=len(parents), max_rows=MAX_ROWS,
        form=form or {}, errors=errors or {},
        # Their reset button would void these notices: the page warns before it.
        other_notices=distribution.notices_of_other_schools(
            [p.account for p in shown], school_row),
        french_date=notices.french_date,
    ), status


@bp.get("/etablissement/<uai>")
def school(uai):
    """A school's pupils and parents with the state of their accounts."""
    row, error = _managed_school(uai)
    return error or _school_page(row)


@bp.post("/etablissement/<uai>/notifications")
def notices_for_class(uai):
    """Issue provisional passwords to a class and show the notices to print."""
    row, error = _managed_school(uai)
    if error:
        return error
    division = request.form.get("classe") or ""
    role = request.form.get("role") or ""
    errors = {}
    if division not in roster.divisions(row):
        errors["notices-classe"] = MESSAGES["missing_class"]
    if role not in ROLE_CHOICES:
        errors["role-tous"] = MESSAGES["bad_role"]
    if errors:
        return _school_page(row, form={"classe": division, "role": role}, errors=errors,
                            status=400)
    result = distribution.distribute(provider(), row.uai, division=division,
                                     role=ROLE_CHOICES[role], by=g.admin.identifier)
    db.session.commit()
    return notices.console_page(
        result.notices, provider().config["ISSUER"], title=notices.title_of(result),
        distribution=result, back_url=url_for("admin.school", uai=row.uai, classe=division),
    )


def _refused(event: str, row, exc) -> None:
    """Undo a refused action and keep a record of the attempt (which account, why)."""
    db.session.rollback()
    audit.record(event, account=g.admin, uai=row.uai,
                 target=request.form.get("account", "")[:64], reason=str(exc))
    db.session.commit()


@bp.post("/etablissement/<uai>/reinitialisation")
def reset(uai):
    """Give one person a new provisional password and show their notice, once."""
    row, error = _managed_school(uai)
    if error:
        return error
    try:
        notice = distribution.reset_in_school(provider(), row, request.form.get("account", ""),
                                              by=g.admin.identifier)
    except distribution.DistributionError as exc:
        _refused("admin.reset_refused", row, exc)
        return render_error(400, "Réinitialisation impossible", str(exc).capitalize() + ".",
                            back_url=url_for("admin.school", uai=row.uai))
    db.session.commit()
    return notices.console_page(
        [notice], provider().config["ISSUER"],
        title=f"Nouveau mot de passe provisoire de {notice.given_name} {notice.family_name}",
        back_url=url_for("admin.school", uai=row.uai, classe=notice.division or None),
    )


@bp.post("/etablissement/<uai>/deblocage")
def unlock(uai):
    """Unlock the account of one person of the school."""
    row, error = _managed_school(uai)
    if error:
        return error
    try:
        person = distribution.unlock_in_school(row, request.form.get("account", ""),
                                               by=g.admin.identifier)
    except distribution.DistributionError as exc:
        _refused("admin.unlock_refused", row, exc)
        return render_error(400, "Déblocage impossible", str(exc).capitalize() + ".",
                            back_url=url_for("admin.school", uai=row.uai))
    db.session.commit()
    flash(f"Le compte {person.account.identifier} ({person.given_name} "
          f"{person.family_name}) est débloqué.", "success")
    return redirect(url_for("admin.school", uai=row.uai, classe=person.division or None))


@bp.get("/etablissement/<uai>/signalements")
def reports(uai):
    """The "not the legal representative" reports about the school's pupils."""
    row, error = _managed_school(uai)
    return error or render_template("admin/reports.html", school=row,
                                    refusals=roster.refusals(row),
                                    french_date=notices.french_date)
