"""Configuration: embedded defaults, then the IDP_CONFIG file, then IDP_* variables.

Values are validated once, at start-up, so that a bad deployment fails before it
serves anyone, with a message that names the key.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

DEFAULTS_PATH = Path(__file__).resolve().parent.parent / "conf" / "defaults.toml"
ENV_PREFIX = "IDP_"


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message names the key."""


def load_defaults() -> dict:
    """Return the embedded defaults as a dict of lowercase keys."""
    with DEFAULTS_PATH.open("rb") as fh:
        return tomllib.load(fh)


def _coerce(key: str, raw: str, default):
    """Convert an environment string to the type of the key's default."""
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, (list, dict)):
            return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{key.upper()}: invalid value {raw!r}") from exc
    return raw


def load_config(overrides: dict | None = None, environ=None) -> dict:
    """Merge defaults, the IDP_CONFIG file, IDP_* variables and explicit overrides."""
    environ = os.environ if environ is None else environ
    values = load_defaults()
    path = environ.get("IDP_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh))
        except OSError as exc:
            raise ConfigError(f"IDP_CONFIG: cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"IDP_CONFIG: {path} is not valid TOML: {exc}") from exc
    defaults = dict(values)
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "IDP_CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.startswith("test_"):
            continue
        values[key] = _coerce(key, raw, defaults.get(key, ""))
    if overrides:
        values.update({k.lower(): v for k, v in overrides.items()})
    return values


def _secret_file(var_dir: Path) -> str:
    """Return the development secret kept under var/, creating it once."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def validate(values: dict) -> dict:
    """Check the merged configuration and fill derived values; raise ConfigError."""
    env = values.get("env")
    if env not in ("development", "production", "testing"):
        raise ConfigError("env: must be development, production or testing")
    issuer = str(values.get("issuer", "")).rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError("issuer: must be an absolute http(s) URL without query or fragment")
    values["issuer"] = issuer
    var_dir = Path(values.get("var_dir") or "var")
    values["var_dir"] = str(var_dir)
    if env == "production":
        if parts.scheme != "https":
            raise ConfigError("issuer: must use https in production")
        if len(values.get("secret_key") or "") < 32:
            raise ConfigError("secret_key: required in production (at least 32 characters)")
        if not values.get("pairwise_salt"):
            raise ConfigError("pairwise_salt: required in production")
        if not str(values.get("database_url") or "").startswith(("postgresql://",
                                                                 "postgresql+psycopg://")):
            raise ConfigError("database_url: a PostgreSQL URL is required in production "
                              "(postgresql://...)")
    elif not values.get("secret_key"):
        values["secret_key"] = _secret_file(var_dir)
    if not values.get("pairwise_salt"):
        values["pairwise_salt"] = values["secret_key"]
    for key in (
        "authorization_code_ttl",
        "access_token_ttl",
        "refresh_token_ttl",
        "id_token_ttl",
        "flow_ttl",
        "session_idle_ttl",
        "session_max_ttl",
        "argon2_memory_kib",
        "argon2_time_cost",
        "argon2_parallelism",
        "lock_threshold",
        "ratelimit_login_per_ip",
        "ratelimit_login_window",
        "serve_workers",
    ):
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{key}: must be a positive integer")
    if values["authorization_code_ttl"] > 600:
        raise ConfigError("authorization_code_ttl: at most 600 seconds (RFC 6749 4.1.2)")
    if values.get("sms_backend") not in ("outbox", "http"):
        raise ConfigError("sms_backend: must be outbox or http")
    if values.get("mail_backend") not in ("outbox", "smtp"):
        raise ConfigError("mail_backend: must be outbox or smtp")
    if values["sms_backend"] == "http" and not (values.get("sms_http_url")
                                                and values.get("sms_http_token")):
        raise ConfigError("sms_http_url: the http SMS backend needs a URL and a token")
    if values.get("fc_issuer"):
        if not (values.get("fc_client_id") and values.get("fc_client_secret")):
            raise ConfigError("fc_client_id: FranceConnect needs a client id and a secret")
        if env == "production" and not str(values["fc_issuer"]).startswith("https://"):
            raise ConfigError("fc_issuer: must use https in production")
    if values.get("default_subject_type") not in ("public", "pairwise"):
        raise ConfigError("default_subject_type: must be public or pairwise")
    db_url = str(values.get("database_url") or "")
    if not db_url:
        # The embedded default follows var_dir, with the secret key and the outbox.
        db_url = f"sqlite:///{(var_dir / 'idp.sqlite3').resolve()}"
        var_dir.mkdir(parents=True, exist_ok=True)
        values["database_url"] = db_url
    if db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):
        # A relative SQLite path is relative to the working directory, made absolute
        # so that the CLI, the server and the migrations agree.
        rel = db_url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            path = Path(rel).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            values["database_url"] = f"sqlite:///{path}"
    if db_url.startswith("postgresql://"):
        values["database_url"] = "postgresql+psycopg://" + db_url[len("postgresql://") :]
    return values


def to_flask(values: dict) -> dict:
    """Translate validated values to the Flask config mapping (uppercase keys)."""
    flask = {key.upper(): value for key, value in values.items()}
    flask["SQLALCHEMY_DATABASE_URI"] = values["database_url"]
    flask["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(values["database_url"])
    flask["SESSION_COOKIE_NAME"] = "idp_csrf"
    flask["SESSION_COOKIE_HTTPONLY"] = True
    flask["SESSION_COOKIE_SAMESITE"] = "Lax"
    flask["SESSION_COOKIE_SECURE"] = values["issuer"].startswith("https://")
    flask["TESTING"] = values["env"] == "testing"
    flask["MAX_CONTENT_LENGTH"] = 1024 * 1024
    return flask


def _engine_options(url: str) -> dict:
    """Connection pool settings suited to each engine."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # No pre-ping: it would cost a round trip on every request. After a database restart
    # the first query on each stale connection fails (503), SQLAlchemy then invalidates
    # the pool, and the next requests reconnect.
    return {"pool_size": 10, "max_overflow": 20, "pool_recycle": 1800}
