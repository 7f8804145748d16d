"""Configuration: embedded defaults, then the IDP_CONFIG file, then IDP_* variables.

Values are validated once, at start-up, so that a bad deployment fails before it
serves anyone, with a message that names the key.
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import os
import re
import secrets
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

DEFAULTS_PATH = Path(__file__).resolve().parent.parent / "conf" / "defaults.toml"
ENV_PREFIX = "IDP_"

# IDP_* environment variables that are not configuration keys, so not refused as
# misspelt keys. Every IDP_ name the repository uses was listed with
#   grep -rhoE "IDP_[A-Z0-9_]+" --include=*.py --include=*.sh --include=Makefile \
#        --include=*.md --include=*.toml --include=*.cfg -r . | sort -u
# All the others (IDP_ENV, IDP_DATABASE_URL, IDP_LOG_LEVEL, ...) are keys of
# conf/defaults.toml. A new tool variable must be added here, or start-up refuses it.
NON_KEY_VARIABLES = frozenset({
    "IDP_CONFIG",             # the configuration file, read by load_config itself
    "IDP_TEST_DATABASE_URL",  # PostgreSQL for the test suite (tests/conftest.py, .ci/run,
                              # scripts/test.sh)
    "IDP_TEST_REDIS_URL",     # Redis for the test suite (same places)
    "IDP_TEST_CHROMIUM",      # browser tests and scripts/screenshots.py
    "IDP_TEST_AXE_JS",        # axe-core for the browser accessibility tests
})
# What Kubernetes (and Docker links) put in every container of a namespace that has a
# Service named "idp" or "idp-...": IDP_SERVICE_HOST, IDP_PORT_8000_TCP_ADDR, ... They
# are nobody's typing mistakes, so they are left alone.
_SERVICE_LINK = re.compile(
    r"IDP_(?:[A-Z0-9_]+_)?(?:SERVICE_(?:HOST|PORT)(?:_[A-Z0-9_]+)?"
    r"|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)"
)

# A value holding this marker was copied from conf/production.example.toml unfilled.
PLACEHOLDER = "CHANGE-ME"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Keys that must be integers >= 1 (lifetimes, costs, counts).
POSITIVE_INTEGERS = (
    "authorization_code_ttl", "access_token_ttl", "refresh_token_ttl", "id_token_ttl",
    "flow_ttl", "retired_key_ttl", "session_idle_ttl", "session_max_ttl",
    "argon2_memory_kib", "argon2_time_cost", "argon2_parallelism",
    "lock_threshold", "lock_base_seconds", "lock_max_seconds",
    "ratelimit_login_per_ip", "ratelimit_login_window", "serve_workers",
    "provisional_password_days",
)
# Keys that must be integers >= 0.
NON_NEGATIVE_INTEGERS = ("trusted_proxies", "sms_http_retries", "fc_retries")
# Keys that must be finite numbers > 0 (seconds).
POSITIVE_NUMBERS = ("backchannel_timeout", "fc_timeout")
# idp.services.password_policy.MAX_LENGTH: a longer minimum would refuse every password.
PASSWORD_MAX_LENGTH = 128
# RFC 6265 cookie-name token characters.
COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# gunicorn --bind: HOST, HOST:PORT, [IPv6]:PORT (unix:PATH and fd://N checked apart).
BIND = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+)(?::(\d+))?")


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message names the key."""


def load_defaults() -> dict:
    """Return the embedded defaults as a dict of lowercase keys."""
    with DEFAULTS_PATH.open("rb") as fh:
        return tomllib.load(fh)


def _kind(value) -> str:
    """The TOML name of a value's type, for messages (never the value: it may be secret)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date or time"
    return type(value).__name__


_EXPECTED = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}


def _typed(key: str, value, default, where: str = ""):
    """Return value if it has the type of the key's default; else raise ConfigError.

    An integer is accepted for a float (timeout = 3); a boolean is never an integer.
    """
    kind = type(default)
    if kind is float and type(value) is int:
        return float(value)
    if type(value) is kind:
        return value
    hint = ""
    if isinstance(value, str) and kind in (int, float, bool):
        try:
            _coerce(key, value, default)
            hint = ", write it without quotes"
        except ConfigError:
            pass
    raise ConfigError(f"{key}: must be {_EXPECTED.get(kind, kind.__name__)}, "
                      f"not {_kind(value)}{where}{hint}")


def _coerce(key: str, raw: str, default):
    """Convert an environment string to the type of the key's default."""
    name = f"{ENV_PREFIX}{key.upper()}"
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
            value = json.loads(raw)
            if type(value) is not type(default):
                expected = "array" if isinstance(default, list) else "object"
                raise ConfigError(f"{name}: must be a JSON {expected}, not {_kind(value)}")
            return value
    except ValueError as exc:
        expected = _EXPECTED.get(type(default), "")
        raise ConfigError(f"{name}: invalid value {raw!r} (must be {expected})") from exc
    return raw


def _unknown(name: str, known, spelling=lambda k: k) -> str:
    """The end of an unknown-key message: the closest known spelling, if any."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean {spelling(close[0])}?"
    return "see conf/production.example.toml for the known keys"


def load_config(overrides: dict | None = None, environ=None) -> dict:
    """Merge defaults, the IDP_CONFIG file, IDP_* variables and explicit overrides.

    The file and the environment may only set keys of conf/defaults.toml, each with the
    type of its default; anything else is a ConfigError naming the key. Overrides
    (create_app's argument, set by code) are type-checked by validate().
    """
    environ = os.environ if environ is None else environ
    defaults = load_defaults()
    values = dict(defaults)
    path = environ.get("IDP_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"IDP_CONFIG: cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"IDP_CONFIG: {path} is not valid TOML: {exc}") from exc
        for key, value in from_file.items():
            if key not in defaults:
                raise ConfigError(f"{key}: unknown key in {path}; "
                                  f"{_unknown(key.lower(), defaults)}")
            values[key] = _typed(key, value, defaults[key], f" in {path}")
    known_names = {ENV_PREFIX + key.upper() for key in defaults} | NON_KEY_VARIABLES
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_KEY_VARIABLES or (
                name not in known_names and _SERVICE_LINK.fullmatch(name)):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in defaults:
            raise ConfigError(f"{name}: unknown configuration variable; "
                              f"{_unknown(name.upper(), known_names)}")
        # Typed from the embedded defaults, never from the file's (possibly wrong) value.
        values[key] = _coerce(key, raw, defaults[key])
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


def _placeholders(values: dict) -> None:
    """Refuse, in production, a value still holding the example's CHANGE-ME marker."""
    for key, value in values.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and PLACEHOLDER.lower() in item.lower()
               for item in items):
            raise ConfigError(f"{key}: still holds the placeholder {PLACEHOLDER} of "
                              "conf/production.example.toml; set the real value")


def _database_url(url: str) -> str:
    """Check a non-empty database URL; return it with the PostgreSQL driver spelt out.

    Supported: SQLite (development and tests) and PostgreSQL through psycopg 3.
    postgres:// is accepted as an alias of postgresql://: libpq, psql and most hosting
    platforms accept or hand out that spelling, and SQLAlchemy alone refuses it.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = ("postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or sqlite:///PATH "
                "outside production")
    try:
        driver = make_url(url).drivername
    except (ArgumentError, ValueError):
        # Never echo the URL: it may hold a password.
        raise ConfigError(f"database_url: not a database URL; expected {expected}") from None
    if driver in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if driver in ("postgresql+psycopg", "sqlite"):
        return url
    raise ConfigError(f"database_url: {driver} is not supported; only SQLite (development "
                      f"and tests) and PostgreSQL are: {expected}")


def _redis_url(url: str) -> None:
    """Check a non-empty Redis URL: redis://, rediss:// (TLS) or unix://."""
    from redis.connection import parse_url

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or (
            parts.scheme == "unix" and not parts.path):
        raise ConfigError("redis_url: must be a redis://HOST:PORT/DB, rediss://HOST:PORT/DB "
                          "or unix:///PATH URL")
    try:
        parse_url(url)
    except ValueError:
        # Never the parser's words: they quote parts of the URL, password included.
        raise ConfigError("redis_url: not a valid URL (a password with / ? # or @ must be "
                          "percent-encoded)") from None


def _serve_bind(bind: str) -> None:
    """Check a gunicorn bind address: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N."""
    if (bind.startswith("unix:") and len(bind) > 5) or re.fullmatch(r"fd://\d+", bind):
        return
    match = BIND.fullmatch(bind)
    if not match or (match.group(1) and not 1 <= int(match.group(1)) <= 65535):
        raise ConfigError(f"serve_bind: {bind!r} is not HOST:PORT (port 1-65535), "
                          "[IPv6]:PORT or unix:PATH")


def _http_url(key: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: must be an absolute http(s) URL")


def _check_types_and_ranges(values: dict) -> None:
    """Each key has the type of its default, and numbers lie in their range."""
    for key, default in load_defaults().items():
        values[key] = _typed(key, values.get(key, default), default)
    for key in POSITIVE_INTEGERS:
        if values[key] <= 0:
            raise ConfigError(f"{key}: must be a positive integer")
    for key in NON_NEGATIVE_INTEGERS:
        if values[key] < 0:
            raise ConfigError(f"{key}: must be an integer >= 0")
    for key in POSITIVE_NUMBERS:
        if not (math.isfinite(values[key]) and values[key] > 0):
            raise ConfigError(f"{key}: must be a number of seconds > 0")
    if values["authorization_code_ttl"] > 600:
        raise ConfigError("authorization_code_ttl: at most 600 seconds (RFC 6749 4.1.2)")
    if values["argon2_memory_kib"] < 8 * values["argon2_parallelism"]:
        raise ConfigError("argon2_memory_kib: at least 8 KiB per lane (8 x argon2_parallelism)")
    if not 1 <= values["smtp_port"] <= 65535:
        raise ConfigError("smtp_port: must be a port number, 1 to 65535")
    if not 1 <= values["password_min_length"] <= PASSWORD_MAX_LENGTH:
        raise ConfigError(f"password_min_length: must be 1 to {PASSWORD_MAX_LENGTH}")
    if not 0 <= values["password_min_score"] <= 4:
        raise ConfigError("password_min_score: must be a zxcvbn score, 0 to 4")
    level = values["log_level"].upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}")
    values["log_level"] = level
    _serve_bind(values["serve_bind"])
    name = values["session_cookie_name"]
    if not COOKIE_NAME.fullmatch(name) or name == "idp_csrf":
        raise ConfigError("session_cookie_name: must be a cookie name (letters, digits, "
                          "_ or -) other than idp_csrf")


def validate(values: dict) -> dict:
    """Check the merged configuration and fill derived values; raise ConfigError."""
    env = values.get("env")
    if env not in ("development", "production", "testing"):
        raise ConfigError("env: must be development, production or testing")
    _check_types_and_ranges(values)
    if env == "production":
        _placeholders(values)
    issuer = values["issuer"].rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError("issuer: must be an absolute http(s) URL without query or fragment")
    values["issuer"] = issuer
    var_dir = Path(values["var_dir"] or "var")
    values["var_dir"] = str(var_dir)
    db_url = _database_url(values["database_url"]) if values["database_url"] else ""
    if values["redis_url"]:
        _redis_url(values["redis_url"])
    if env == "production":
        if parts.scheme != "https":
            raise ConfigError("issuer: must use https in production")
        if len(values["secret_key"]) < 32:
            raise ConfigError("secret_key: required in production (at least 32 characters)")
        if not values["pairwise_salt"]:
            raise ConfigError("pairwise_salt: required in production")
        if not db_url.startswith("postgresql+psycopg://"):
            raise ConfigError("database_url: a PostgreSQL URL is required in production "
                              "(postgresql://...)")
    elif not values["secret_key"]:
        values["secret_key"] = _secret_file(var_dir)
    if not values["pairwise_salt"]:
        values["pairwise_salt"] = values["secret_key"]
    if values["sms_backend"] not in ("outbox", "http"):
        raise ConfigError("sms_backend: must be outbox or http")
    if values["mail_backend"] not in ("outbox", "smtp"):
        raise ConfigError("mail_backend: must be outbox or smtp")
    if values["sms_backend"] == "http":
        if not (values["sms_http_url"] and values["sms_http_token"]):
            raise ConfigError("sms_http_url: the http SMS backend needs a URL and a token")
        _http_url("sms_http_url", values["sms_http_url"])
    if values["fc_issuer"]:
        _http_url("fc_issuer", values["fc_issuer"])
        if not (values["fc_client_id"] and values["fc_client_secret"]):
            raise ConfigError("fc_client_id: FranceConnect needs a client id and a secret")
        if env == "production" and not values["fc_issuer"].startswith("https://"):
            raise ConfigError("fc_issuer: must use https in production")
    if values["default_subject_type"] not in ("public", "pairwise"):
        raise ConfigError("default_subject_type: must be public or pairwise")
    if not db_url:
        # The embedded default follows var_dir, with the secret key and the outbox.
        db_url = f"sqlite:///{(var_dir / 'idp.sqlite3').resolve()}"
        var_dir.mkdir(parents=True, exist_ok=True)
    elif db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////"):
        # A relative SQLite path is relative to the working directory, made absolute
        # so that the CLI, the server and the migrations agree.
        rel = db_url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            path = Path(rel).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            db_url = f"sqlite:///{path}"
    values["database_url"] = db_url
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
