"""The demo relying service's Flask application: routes and OpenID Connect glue.

Everything about the provider comes from its discovery document
(`<issuer>/.well-known/openid-configuration`): endpoints, supported scopes,
signing algorithms, JWKS. Only the issuer, the client id and the client secret
are configured, in a JSON file.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import abort
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import session
from flask import url_for
from joserfc.errors import JoseError

from examples.sample_client import backchannel
from examples.sample_client import services as catalogue
from examples.sample_client.store import SessionStore
from examples.sample_client.store import StateCache

log = logging.getLogger("sample_client")

TITLE = "Scolarité Services (démo)"
#: The DSFR files the provider vendors (idp/static/dsfr, with their licence): served by
#: this demo from its own origin, as a real service serves its own copy; web fonts
#: would not load from another origin without CORS headers.
DSFR_DIR = Path(__file__).resolve().parents[2] / "idp" / "static" / "dsfr"
#: Scopes always asked for, then those asked for only when discovery lists them.
BASE_SCOPES = ["openid", "profile"]
OPTIONAL_SCOPES = ["school", "children"]


class NotConfigured(Exception):
    """The registration file is missing or incomplete."""


def default_config_path() -> Path:
    """$SAMPLE_CLIENT_CONFIG, else sample_client.json in $IDP_VAR_DIR (default var/)."""
    explicit = os.environ.get("SAMPLE_CLIENT_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("IDP_VAR_DIR") or "var") / "sample_client.json"


def load_registration(path: Path) -> dict:
    """Read {issuer, client_id, client_secret[, service_name]} from the JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotConfigured(
            f"{path} n'existe pas : lancez « idp demo load » (ou « make run »), qui "
            "enregistre ce service et écrit ce fichier."
        ) from None
    except (OSError, ValueError) as exc:
        raise NotConfigured(f"{path} est illisible : {exc}") from None
    missing = [k for k in ("issuer", "client_id", "client_secret") if not data.get(k)]
    if missing:
        raise NotConfigured(f"{path} : il manque {', '.join(missing)}.")
    data["issuer"] = data["issuer"].rstrip("/")
    return data


class Relying:
    """The OpenID Connect client, registered with Authlib on first use."""

    def __init__(self, app: Flask, path: Path):
        self.path = path
        self.oauth = OAuth(app, cache=StateCache())
        self._lock = threading.Lock()
        self._client = None
        self.registration: dict | None = None

    @property
    def client(self):
        """Authlib's Flask OAuth 2 app for the provider (raises NotConfigured)."""
        with self._lock:
            if self._client is None:
                registration = load_registration(self.path)
                self._client = self.oauth.register(
                    "educonnect",
                    client_id=registration["client_id"],
                    client_secret=registration["client_secret"],
                    server_metadata_url=(
                        f"{registration['issuer']}/.well-known/openid-configuration"
                    ),
                    client_kwargs={"code_challenge_method": "S256", "default_timeout": 10},
                )
                self.registration = registration
            return self._client

    def metadata(self) -> dict:
        """The discovery document, checked against the configured issuer."""
        metadata = self.client.load_server_metadata()
        if metadata.get("issuer") != self.registration["issuer"]:
            raise NotConfigured(
                "Le document de découverte annonce l'émetteur "
                f"{metadata.get('issuer')!r} au lieu de {self.registration['issuer']!r}."
            )
        return metadata

    def scopes(self) -> list[str]:
        """openid profile, plus school and children when the provider offers them."""
        supported = self.metadata().get("scopes_supported") or []
        return BASE_SCOPES + [s for s in OPTIONAL_SCOPES if s in supported]

    def jwks(self, force: bool = False) -> dict:
        """The provider's keys: cached, fetched again when force is true."""
        return self.client.fetch_jwk_set(force=force)

    @property
    def issuer(self) -> str | None:
        """The configured issuer, when the registration could be read."""
        try:
            self.client  # noqa: B018 - loads the registration
        except NotConfigured:
            return None
        return self.registration["issuer"]


def create_app(config_path: str | Path | None = None, base_url: str | None = None) -> Flask:
    """Build the demo client. base_url: where browsers reach it (its redirect URIs)."""
    app = Flask(__name__)
    base_url = (base_url or "http://127.0.0.1:5001").rstrip("/")
    port = urlsplit(base_url).port or 80
    app.config.update(
        SECRET_KEY=os.environ.get("SAMPLE_CLIENT_SECRET_KEY") or os.urandom(32),
        # The provider also lives on 127.0.0.1 and cookies ignore ports: a name of our own.
        SESSION_COOKIE_NAME=f"scolarite_demo_{port}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=base_url.startswith("https://"),
        BASE_URL=base_url,
    )
    app.jinja_env.filters["clock"] = lambda ts: time.strftime("%H:%M:%S", time.localtime(ts))
    app.jinja_env.filters["level_label"] = catalogue.level_label
    app.jinja_env.globals["level_label"] = catalogue.level_label
    relying = Relying(app, Path(config_path) if config_path else default_config_path())
    store = SessionStore()
    app.extensions["sample_client"] = {"relying": relying, "store": store}

    def current():
        """The local session of this browser, or None; notices ended sessions."""
        if "current" not in g:
            lsid = session.get("lsid")
            g.current = store.get(lsid)
            if lsid and g.current is None:
                session.pop("lsid", None)
                flash("Votre session a pris fin : vous avez été déconnecté d'EduConnect, "
                      "depuis ce service ou depuis un autre.", "info")
        return g.current

    def service_name() -> str:
        registration = relying.registration or {}
        return registration.get("service_name") or TITLE

    @app.context_processor
    def _globals():
        issuer = relying.issuer
        return {
            "service_name": service_name(),
            "dsfr_css": _dsfr_css(issuer),
            "user": current(),
        }

    @app.after_request
    def _headers(response):
        issuer = relying.registration["issuer"] if relying.registration else ""
        origin = ""
        if issuer:
            parts = urlsplit(issuer)
            origin = f" {parts.scheme}://{parts.netloc}"
        # No form-action: browsers (Chromium) apply it to every redirection that
        # follows a form, and the logout form's POST goes on to the provider, then to
        # wherever the provider's logout leads (FranceConnect's session/end for a
        # parent who logged in with FranceConnect), which a service cannot list.
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; style-src 'self'{origin}; font-src 'self'{origin}; "
            f"img-src 'self' data:{origin}; script-src 'none'; object-src 'none'; "
            f"base-uri 'none'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint not in ("static", "dsfr"):
            response.headers["Cache-Control"] = "no-store"
        return response

    def error_page(title: str, message: str, status: int = 400, detail: str | None = None):
        return render_template("error.html", title=title, message=message,
                               detail=detail), status

    @app.errorhandler(NotConfigured)
    def _not_configured(error):
        return error_page("Service non configuré", str(error), 503)

    @app.errorhandler(requests.RequestException)
    def _unreachable(error):
        log.warning("provider unreachable: %s", error)
        return error_page(
            "EduConnect ne répond pas",
            "Le fournisseur d'identité n'a pas pu être joint. Réessayez dans un instant.",
            502,
        )

    @app.get("/")
    def home():
        """Home page; also where the provider sends people back after a logout."""
        if "state" in request.args:
            try:
                relying.client.validate_logout_response()
            except AuthlibBaseError:
                flash("Le retour de déconnexion ne correspond à aucune demande de ce "
                      "navigateur (state invalide) : il a été ignoré.", "error")
            else:
                flash(f"Vous êtes déconnecté de {service_name()} et d'EduConnect.",
                      "success")
            return redirect(url_for("home"))
        if current() is not None:
            return redirect(url_for("services"))
        return render_template("home.html", events=store.events(),
                               registration=_safe_registration(relying))

    @app.get("/login")
    def login():
        """Start the authorization code flow (state, nonce and PKCE by Authlib)."""
        return relying.client.authorize_redirect(
            f"{app.config['BASE_URL']}/callback", scope=" ".join(relying.scopes()),
        )

    @app.get("/callback")
    def callback():
        """The authorization response: check iss, redeem the code, read userinfo."""
        metadata = relying.metadata()
        iss = request.args.get("iss")
        if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
            return error_page("Connexion refusée",
                              "La réponse d'autorisation ne contient pas l'émetteur (iss).")
        if iss is not None and iss != metadata["issuer"]:
            # RFC 9207: the response comes from another provider (mix-up attack).
            return error_page("Connexion refusée",
                              "La réponse d'autorisation vient d'un autre émetteur.")
        if request.args.get("error"):
            error = request.args["error"]
            messages = {
                "access_denied": "Vous avez refusé de transmettre vos informations.",
                "login_required": "Vous devez vous connecter.",
            }
            return error_page("Connexion interrompue",
                              messages.get(error, "EduConnect a refusé la demande."),
                              detail=f"{error}: {request.args.get('error_description', '')}")
        try:
            token = relying.client.authorize_access_token()
            if "userinfo" not in token:
                raise ValueError("no ID token in the token response")
            claims = dict(token["userinfo"])
            userinfo = dict(relying.client.userinfo(token=token))
        except (AuthlibBaseError, JoseError, ValueError, requests.HTTPError) as exc:
            log.warning("login failed: %r", exc)
            return error_page(
                "Connexion impossible",
                "La connexion n'a pas pu aboutir. Recommencez depuis la page d'accueil.",
                detail=_describe(exc),
            )
        if userinfo.get("sub") != claims.get("sub"):
            return error_page("Connexion impossible",
                              "Les informations reçues ne concernent pas la même personne.")
        old = session.pop("lsid", None)
        store.end(old)
        record = store.create(
            sub=claims["sub"], sid=claims.get("sid"), id_token=token["id_token"],
            id_token_header=_jwt_header(token["id_token"]), id_token_claims=claims,
            userinfo=userinfo, scope=token.get("scope", ""),
        )
        session["lsid"] = record.lsid
        return redirect(url_for("services"))

    @app.get("/services")
    def services():
        """"Mes services": the children (parent) or the pupil's own services."""
        user = current()
        if user is None:
            return redirect(url_for("home"))
        info = user.userinfo
        role = catalogue.affiliation(info)
        kids = catalogue.children(info)
        chosen = None
        wanted = request.args.get("enfant")
        if wanted:
            chosen = next((c for c in kids if c.id == wanted), None)
            if chosen is None:
                abort(404)
        elif len(kids) == 1:
            chosen = kids[0]
        granted = user.scope.split()
        return render_template(
            "services.html", role=role, children=kids, chosen=chosen,
            school=catalogue.school(info), pupil_services=catalogue.pupil_services(info),
            requested=relying.scopes(), granted=granted,
            offered=relying.metadata().get("scopes_supported") or [],
            id_token_header=_pretty(user.id_token_header),
            id_token_claims=_pretty(user.id_token_claims), userinfo=_pretty(info),
        )

    @app.get("/demarches/<slug>")
    def demarche(slug):
        """A procedure's (demonstration) start page."""
        user = current()
        if user is None:
            return redirect(url_for("home"))
        service = catalogue.ALL_SERVICES.get(slug)
        if service is None:
            abort(404)
        child = None
        if request.args.get("enfant"):
            child = next((c for c in catalogue.children(user.userinfo)
                          if c.id == request.args["enfant"]), None)
            if child is None or service not in child.services():
                abort(404)
        elif (catalogue.affiliation(user.userinfo) != "eleve"
              or service not in catalogue.pupil_services(user.userinfo)):
            abort(404)
        return render_template("demarche.html", service=service, child=child)

    @app.post("/logout")
    def logout():
        """End the local session, then RP-initiated logout at the provider."""
        user = current()
        if user is None:
            return redirect(url_for("home"))
        if request.form.get("csrf") != user.csrf:
            abort(400)
        store.end(user.lsid)
        session.pop("lsid", None)
        return relying.client.logout_redirect(
            post_logout_redirect_uri=f"{app.config['BASE_URL']}/",
            id_token_hint=user.id_token,
        )

    @app.post("/backchannel-logout")
    def backchannel_logout():
        """Back-channel logout: the provider says a session ended."""
        metadata = relying.metadata()
        try:
            claims = backchannel.validate(
                request.form.get("logout_token", ""),
                issuer=metadata["issuer"], client_id=relying.registration["client_id"],
                algorithms=metadata.get("id_token_signing_alg_values_supported") or ["RS256"],
                get_jwks=relying.jwks,
            )
        except backchannel.LogoutTokenError as exc:
            log.warning("logout token refused: %s", exc)
            return _no_store(jsonify(error="invalid_request", error_description=str(exc)), 400)
        if not store.first_use_of_jti(claims["jti"], backchannel.MAX_AGE + backchannel.LEEWAY):
            return _no_store(jsonify(error="invalid_request",
                                     error_description="logout token replayed"), 400)
        ended = store.end_for_provider_session(claims.get("sid"), claims.get("sub"))
        log.info("back-channel logout: sid=%s, %d local session(s) ended",
                 claims.get("sid"), ended)
        return _no_store(app.response_class(status=200))

    @app.get("/dsfr/<path:filename>")
    def dsfr(filename):
        """The DSFR stylesheet, its fonts and icons, from the repository's copy."""
        if not DSFR_DIR.is_dir():
            abort(404)
        return send_from_directory(DSFR_DIR, filename, max_age=3600)

    @app.get("/favicon.ico")
    def favicon():
        """What browsers ask for by themselves."""
        return dsfr("favicon/favicon.ico")

    @app.get("/healthz")
    def healthz():
        """The process is alive."""
        return jsonify(status="ok")

    @app.errorhandler(404)
    def _not_found(error):
        return error_page("Page non trouvée", "Cette page n'existe pas.", 404)

    @app.errorhandler(400)
    def _bad_request(error):
        return error_page("Demande invalide",
                          "Le formulaire a expiré. Revenez à la page précédente.", 400)

    return app


def _dsfr_css(issuer: str | None) -> str | None:
    """Our own copy of the DSFR stylesheet, else the provider's (then without the
    Marianne font, which browsers only load cross-origin with CORS headers)."""
    if (DSFR_DIR / "dsfr.min.css").is_file():
        return url_for("dsfr", filename="dsfr.min.css")
    return f"{issuer}/static/dsfr/dsfr.min.css" if issuer else None


def _no_store(response, status=None):
    if status is not None:
        response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _pretty(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)


def _jwt_header(token: str) -> dict:
    """The JOSE header of a compact JWS (already verified by Authlib)."""
    part = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _describe(exc: Exception) -> str:
    error = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "description", None) or str(exc)
    return f"{error}: {description}"[:300]


def _safe_registration(relying: Relying) -> dict | None:
    """What the home page shows about the registration (never the secret)."""
    try:
        relying.client  # noqa: B018
    except NotConfigured as exc:
        return {"error": str(exc)}
    return {"issuer": relying.registration["issuer"],
            "client_id": relying.registration["client_id"]}
