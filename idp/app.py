"""The application factory."""

from __future__ import annotations

import logging
import os

import redis
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Flask
from flask import jsonify
from flask import request
from flask import url_for
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from idp import config as config_module
from idp import logs
from idp import metrics
from idp import runtime
from idp import web
from idp.extensions import db
from idp.extensions import migrate
from idp.extensions import tune_engine
from idp.oauth.documents import Documents

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def create_app(overrides: dict | None = None) -> Flask:
    """Build the application from defaults, IDP_CONFIG, IDP_* variables and overrides."""
    values = config_module.validate(config_module.load_config(overrides))
    if values["env"] != "production":
        # Authlib refuses plain http; development and tests run on loopback http.
        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    app = Flask(__name__)
    app.config.from_mapping(config_module.to_flask(values))
    app.config["SESSION_COOKIE_NAME_SSO"] = values["session_cookie_name"]
    logs.configure(app)
    if values["trusted_proxies"]:
        n = values["trusted_proxies"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    app.wsgi_app = Documents(app, app.wsgi_app)  # discovery and JWKS, in front of ProxyFix

    db.init_app(app)
    with app.app_context():
        tune_engine(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    web.init_app(app)
    metrics.init_app(app)

    from idp.directory import claims as directory_claims
    from idp.provider import Provider

    # The school directory's scopes and claims join the claims mapper.
    directory_claims.register()

    with app.app_context():
        app.extensions["idp"] = Provider(app)

    from idp import pages
    from idp.account.views import bp as account_bp
    from idp.activation.views import bp as activation_bp
    from idp.admin.views import bp as admin_bp
    from idp.auth.views import bp as auth_bp
    from idp.federation.views import bp as federation_bp
    from idp.oauth.views import bp as oauth_bp
    from idp.recovery.views import bp as recovery_bp

    app.register_blueprint(oauth_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(activation_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(federation_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(recovery_bp)
    _register_health(app)
    _register_errors(app)

    @app.teardown_request
    def _rollback(exc):
        # Whatever a failed request left in the session is dropped, never half-written.
        if exc is not None:
            db.session.rollback()

    return app


def _register_health(app: Flask) -> None:
    # The schema the code expects: the heads of migrations/, read once per process.
    heads, known = runtime.migration_revisions(MIGRATIONS_DIR)
    # Whether this node's secret_key opens the signing keys: cached for a minute.
    app.extensions["idp.keys_verdict"] = runtime.KeysVerdict()

    @app.get("/healthz")
    def healthz():
        """The process is alive."""
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        """The node can serve: the database answers and its schema is the code's (one
        query: its Alembic revision), the signing keys open with this secret_key (checked
        once a minute), Redis answers when configured. 503 names the failed checks."""
        checks = _database_checks(heads, known)
        provider = app.extensions["idp"]
        if checks.get("schema") in ("ok", "behind"):
            try:
                checks["signing_keys"] = app.extensions["idp.keys_verdict"](provider.keys)
            except Exception:  # noqa: BLE001 - the database failed during the check
                db.session.rollback()
                checks["signing_keys"] = "unavailable"
        redis = provider.redis
        if redis is not None:
            try:
                redis.ping()
                checks["redis"] = "ok"
            except Exception:  # noqa: BLE001
                checks["redis"] = "unavailable"
        ready = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if ready else "unavailable", checks=checks), (
            200 if ready else 503
        )


def _database_checks(heads: frozenset[str], known: frozenset[str]) -> dict[str, str]:
    """{"database": ok or unavailable, "schema": ok, behind or missing (when the database
    answers)}, from one query in the usual case: the database's Alembic revision."""
    try:
        connection = db.session.connection()
    except Exception:  # noqa: BLE001 - any failure means not ready
        db.session.rollback()
        return {"database": "unavailable"}
    try:
        revisions = [row[0] for row in connection.execute(text(runtime.VERSION_QUERY))]
        return {"database": "ok", "schema": runtime.schema_state(revisions, heads, known)}
    except Exception as exc:  # noqa: BLE001
        db.session.rollback()
        if getattr(exc, "connection_invalidated", False):
            return {"database": "unavailable"}  # a stale pooled connection, now dropped
    try:
        # Either no version table (a database never migrated) or the query failed.
        db.session.execute(text("SELECT 1"))
        return {"database": "ok", "schema": "missing"}
    except Exception:  # noqa: BLE001
        db.session.rollback()
        return {"database": "unavailable"}


def _wants_json() -> bool:
    return request.path in {
        "/token", "/userinfo", "/revoke", "/introspect", "/jwks",
        "/.well-known/openid-configuration", "/healthz", "/readyz",
    }


def _register_errors(app: Flask) -> None:
    log = logging.getLogger("idp.errors")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        """French pages for people, JSON for clients."""
        # The headers the error carries (Allow on a 405: RFC 9110 15.5.6), not its type.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            return jsonify(error="invalid_request", error_description=error.name), \
                error.code, headers
        if error.code == 400 and error.description == "csrf":
            return web.render_error(
                400, "Formulaire expiré",
                "Le formulaire a expiré ou a été envoyé deux fois. Rechargez-le et "
                "réessayez.",
                back_url=_same_form_again(), back_label="Recharger le formulaire",
            )
        titles = {
            404: ("Page non trouvée", "La page que vous cherchez n'existe pas ou a été déplacée."),
            405: ("Méthode non autorisée", "Cette adresse ne s'utilise pas ainsi."),
            413: ("Requête trop volumineuse", "Les données envoyées sont trop volumineuses."),
        }
        title, message = titles.get(
            error.code, ("Erreur", "La demande n'a pas pu être traitée. Réessayez.")
        )
        return *web.render_error(error.code or 400, title, message), headers

    @app.errorhandler(InsecureTransportError)
    def insecure(error):
        """A protocol request over plain http in production (see trusted_proxies)."""
        return _bad_request("HTTPS is required", "Connexion non sécurisée",
                            "Ce service ne s'utilise qu'en connexion sécurisée (https).")

    @app.errorhandler(DataError)
    def invalid_value(error):
        """A value the database refuses (e.g. NUL in text on PostgreSQL): bad input."""
        db.session.rollback()
        log.warning("value refused by the database: %s", error.__class__.__name__)
        return _bad_request("A parameter has an invalid value.", "Requête invalide",
                            "La demande contient des caractères invalides.")

    @app.errorhandler(OperationalError)
    def database_down(error):
        """The database is unreachable: 503, no traceback, recovery without restart."""
        db.session.rollback()
        log.error("database unavailable: %s", error.__class__.__name__)
        return _unavailable()

    @app.errorhandler(Exception)
    def unexpected(error):
        """Log the bug; show a sober page, never a traceback."""
        db.session.rollback()
        if _is_redis_error(error):
            log.error("redis unavailable: %s", error.__class__.__name__)
            return _unavailable()
        log.exception("unhandled error")
        if _wants_json():
            return jsonify(error="server_error"), 500
        return web.render_error(
            500, "Erreur technique",
            "Une erreur technique est survenue. Réessayez dans quelques instants.",
        )


def _same_form_again() -> str | None:
    """The address that shows again the form whose post was refused (its GET page, with
    the journey's `f` and `flow`), or None when the form has no such page."""
    rule = request.url_rule
    if rule is None or "GET" not in (rule.methods or ()):
        return None
    keep = {k: v for k in ("f", "flow")
            if isinstance(v := request.args.get(k) or request.form.get(k), str)
            and web.FLOW_PARAM.fullmatch(v)}
    return url_for(request.endpoint, **(request.view_args or {}), **keep)


def _is_redis_error(error) -> bool:
    return isinstance(error, redis.RedisError)


def _bad_request(description: str, title: str, message: str):
    """A 400: a protocol error for clients, a French page for people."""
    if _wants_json():
        return jsonify(error="invalid_request", error_description=description), 400
    return web.render_error(400, title, message)


def _unavailable():
    if _wants_json():
        return jsonify(error="temporarily_unavailable"), 503
    return web.render_error(
        503, "Service momentanément indisponible",
        "Le service est momentanément indisponible. Réessayez dans quelques minutes.",
    )
