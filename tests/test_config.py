"""Configuration layering and start-up validation."""

import pytest

from idp.config import _SERVICE_LINK
from idp.config import ConfigError
from idp.config import load_config
from idp.config import validate


def _prod(**overrides):
    values = {
        "env": "production", "issuer": "https://idp.example.gouv.fr",
        "secret_key": "s" * 48, "pairwise_salt": "salt",
        "database_url": "postgresql://idp@db/idp",
    }
    values.update(overrides)
    return load_config(values, environ={})


def test_defaults_then_file_then_environment(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text('issuer = "https://from-file.example"\naccess_token_ttl = 120\n')
    values = load_config(environ={"IDP_CONFIG": str(path), "IDP_ACCESS_TOKEN_TTL": "300"})
    assert values["issuer"] == "https://from-file.example"
    assert values["access_token_ttl"] == 300
    assert values["refresh_token_ttl"] == 2592000


def test_the_embedded_database_lives_in_var_dir_wherever_the_command_runs(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = validate(load_config(environ={"IDP_VAR_DIR": str(tmp_path / "data")}))
    assert values["database_url"] == f"sqlite:///{tmp_path / 'data' / 'idp.sqlite3'}"
    # A database named by the operator is left as given.
    named = validate(load_config(environ={"IDP_VAR_DIR": str(tmp_path / "data"),
                                          "IDP_DATABASE_URL": "sqlite:///other.db"}))
    assert named["database_url"] == f"sqlite:///{tmp_path / 'other.db'}"


def test_production_needs_a_postgresql_database():
    with pytest.raises(ConfigError, match="database_url: a PostgreSQL URL is required"):
        validate(_prod(database_url=""))


def test_environment_values_are_typed_from_the_defaults():
    with pytest.raises(ConfigError, match="IDP_LOCK_THRESHOLD"):
        load_config(environ={"IDP_LOCK_THRESHOLD": "five"})


def test_unreadable_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="IDP_CONFIG"):
        load_config(environ={"IDP_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"secret_key": ""}, "secret_key"),
        ({"issuer": "http://idp.example.gouv.fr"}, "issuer"),
        ({"pairwise_salt": ""}, "pairwise_salt"),
        ({"database_url": "sqlite:///x.db"}, "database_url"),
        ({"authorization_code_ttl": 3600}, "authorization_code_ttl"),
        ({"issuer": "https://idp.example/?a=b"}, "issuer"),
    ],
)
def test_production_refuses_unsafe_settings_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        validate(_prod(**overrides))


def test_production_config_with_everything_is_accepted():
    values = validate(_prod())
    assert values["database_url"].startswith("postgresql+psycopg://")


def test_production_start_refuses_without_signing_keys(tmp_path, monkeypatch):
    from idp.app import create_app
    from idp.cli import check_runtime

    app = create_app({"env": "testing", "database_url": f"sqlite:///{tmp_path}/x.db",
                      "secret_key": "k" * 40, "var_dir": str(tmp_path)})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    app.config["ENV"] = "production"
    with pytest.raises(ConfigError, match="signing keys"):
        check_runtime(app)


def test_production_example_documents_every_key():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "conf"
    defaults = tomllib.loads((root / "defaults.toml").read_text())
    example = tomllib.loads((root / "production.example.toml").read_text())
    assert set(defaults) == set(example)


# -- types, ranges, unknown keys, placeholders and URLs (operator probe) ---------------


def _from_file(tmp_path, text, **environ):
    path = tmp_path / "idp.toml"
    path.write_text(text)
    return load_config(environ={"IDP_CONFIG": str(path), **environ})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('trusted_proxies = "1"', r"trusted_proxies: must be an integer, not a string in .*"
                                  r"without quotes"),
        ("trusted_proxies = true", "trusted_proxies: must be an integer, not a boolean"),
        ("access_token_ttl = 600.0", "access_token_ttl: must be an integer, not a float"),
        ('log_json = "yes"', "log_json: must be true or false, not a string"),
        ("smtp_password = 1234", "smtp_password: must be a string, not an integer"),
        ("accessibility_statement_date = 2026-09-01",
         "accessibility_statement_date: must be a string, not a date"),
        ('backchannel_timeout = "3"', "backchannel_timeout: must be a number"),
        ("issuer = [\"https://a.example\"]", "issuer: must be a string, not an array"),
    ],
)
def test_file_values_must_have_the_type_of_their_default(tmp_path, line, message):
    with pytest.raises(ConfigError, match=message):
        _from_file(tmp_path, line + "\n")


def test_an_integer_is_accepted_for_a_float_in_the_file(tmp_path):
    values = validate(_from_file(tmp_path, "backchannel_timeout = 2\nvar_dir = "
                                 f'"{tmp_path}"\n'))
    assert values["backchannel_timeout"] == 2.0
    assert isinstance(values["backchannel_timeout"], float)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("IDP_TRUSTED_PROXIES", "one"),
        ("IDP_LOG_JSON", "maybe"),
        ("IDP_BACKCHANNEL_TIMEOUT", "soon"),
        ("IDP_SMTP_PORT", "25.5"),
    ],
)
def test_environment_values_must_parse_as_the_type_of_their_default(name, raw):
    with pytest.raises(ConfigError, match=f"{name}: invalid value"):
        load_config(environ={name: raw})


def test_environment_is_typed_from_the_defaults_not_from_a_wrong_file(tmp_path):
    # The file's quoted "1" is refused; the variable alone is typed from the defaults.
    with pytest.raises(ConfigError, match="trusted_proxies: must be an integer"):
        _from_file(tmp_path, 'trusted_proxies = "1"\n', IDP_TRUSTED_PROXIES="1")
    assert load_config(environ={"IDP_TRUSTED_PROXIES": "1"})["trusted_proxies"] == 1


def test_overrides_are_type_checked_by_validate(tmp_path):
    with pytest.raises(ConfigError, match="trusted_proxies: must be an integer"):
        validate(load_config({"trusted_proxies": "1", "var_dir": str(tmp_path)}, environ={}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("trusted_proxies", -1, "trusted_proxies: must be an integer >= 0"),
        ("serve_workers", 0, "serve_workers: must be a positive integer"),
        ("access_token_ttl", 0, "access_token_ttl: must be a positive integer"),
        ("retired_key_ttl", -5, "retired_key_ttl: must be a positive integer"),
        ("session_idle_ttl", 0, "session_idle_ttl: must be a positive integer"),
        ("lock_base_seconds", 0, "lock_base_seconds: must be a positive integer"),
        ("provisional_password_days", 0, "provisional_password_days: must be a positive"),
        ("sms_http_retries", -1, "sms_http_retries: must be an integer >= 0"),
        ("fc_retries", -1, "fc_retries: must be an integer >= 0"),
        ("smtp_port", 0, "smtp_port: must be a port number"),
        ("smtp_port", 70000, "smtp_port: must be a port number"),
        ("backchannel_timeout", 0, "backchannel_timeout: must be a number of seconds > 0"),
        ("fc_timeout", -1.5, "fc_timeout: must be a number of seconds > 0"),
        ("password_min_score", 5, "password_min_score: must be a zxcvbn score"),
        ("password_min_length", 0, "password_min_length: must be 1 to 128"),
        ("password_min_length", 200, "password_min_length: must be 1 to 128"),
        ("argon2_memory_kib", 8, "argon2_memory_kib: at least 8 KiB per lane"),
        ("authorization_code_ttl", 601, "authorization_code_ttl: at most 600"),
        ("serve_bind", "127.0.0.1:99999", "serve_bind: .* is not HOST:PORT"),
        ("serve_bind", "127.0.0.1:http", "serve_bind: .* is not HOST:PORT"),
        ("session_cookie_name", "idp session", "session_cookie_name: must be a cookie name"),
        ("session_cookie_name", "idp_csrf", "session_cookie_name: must be a cookie name"),
    ],
)
def test_out_of_range_values_are_refused_from_the_file(tmp_path, key, value, message):
    text = f"{key} = {value!r}\n".replace("'", '"')
    if key == "argon2_memory_kib":
        text += "argon2_parallelism = 2\n"
    with pytest.raises(ConfigError, match=message):
        validate(_from_file(tmp_path, text + f'var_dir = "{tmp_path}"\n'))


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("IDP_TRUSTED_PROXIES", "-1", "trusted_proxies: must be an integer >= 0"),
        ("IDP_SERVE_WORKERS", "0", "serve_workers: must be a positive integer"),
        ("IDP_FLOW_TTL", "-60", "flow_ttl: must be a positive integer"),
        ("IDP_SMTP_PORT", "65536", "smtp_port: must be a port number"),
        ("IDP_BACKCHANNEL_TIMEOUT", "nan", "backchannel_timeout: must be a number"),
        ("IDP_FC_TIMEOUT", "inf", "fc_timeout: must be a number"),
    ],
)
def test_out_of_range_values_are_refused_from_the_environment(tmp_path, name, raw, message):
    with pytest.raises(ConfigError, match=message):
        validate(load_config(environ={name: raw, "IDP_VAR_DIR": str(tmp_path)}))


def test_accepted_ranges_and_bind_forms(tmp_path):
    for bind in ("0.0.0.0:8000", "[::1]:8000", "localhost", "unix:/run/idp.sock", "fd://3"):
        values = validate(load_config({"var_dir": str(tmp_path), "serve_bind": bind,
                                       "trusted_proxies": 0, "sms_http_retries": 0},
                                      environ={}))
        assert values["serve_bind"] == bind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trusted_proxie = 1\n",
         r"trusted_proxie: unknown key in .*did you mean trusted_proxies\?"),
        ("serve_worker = 4\n", r"serve_worker: unknown key .*did you mean serve_workers\?"),
        ("[server]\nworkers = 4\n", "server: unknown key"),
        ("TRUSTED_PROXIES = 1\n", r"did you mean trusted_proxies\?"),
        ("zzz = 1\n", "zzz: unknown key .*see conf/production.example.toml"),
    ],
)
def test_unknown_keys_in_the_file_are_refused_with_the_closest_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _from_file(tmp_path, text)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("IDP_TRUSTED_PROXY", r"IDP_TRUSTED_PROXY: unknown configuration variable; "
                              r"did you mean IDP_TRUSTED_PROXIES\?"),
        ("IDP_SERVE_WORKER", r"did you mean IDP_SERVE_WORKERS\?"),
        ("IDP_TEST_DATABSE_URL", r"did you mean IDP_TEST_DATABASE_URL\?"),
        ("IDP_TEST_ANYTHING_ELSE", "IDP_TEST_ANYTHING_ELSE: unknown configuration variable"),
    ],
)
def test_unknown_idp_variables_are_refused_with_the_closest_name(name, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ={name: "1"})


def test_the_repository_own_non_key_variables_are_allowed(tmp_path):
    from idp.config import NON_KEY_VARIABLES

    environ = {name: "x" for name in NON_KEY_VARIABLES if name != "IDP_CONFIG"}
    environ.update({"IDP_VAR_DIR": str(tmp_path), "OTHER_VARIABLE": "kept out"})
    values = validate(load_config(environ=environ))
    assert "test_database_url" not in values and "other_variable" not in values


def test_every_idp_name_of_the_repository_is_a_key_or_allowed():
    import re
    from pathlib import Path

    from idp.config import NON_KEY_VARIABLES
    from idp.config import load_defaults

    root = Path(__file__).resolve().parent.parent
    names = set()
    for path in root.rglob("*"):
        if (".venv" in path.parts or ".git" in path.parts or not path.is_file()
                or path.name == "test_config.py"  # misspellings on purpose
                or not (path.suffix in (".py", ".sh", ".md", ".toml", ".cfg")
                        or path.name == "Makefile")):
            continue
        names |= set(re.findall(r"IDP_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="ignore")))
    known = {"IDP_" + key.upper() for key in load_defaults()} | NON_KEY_VARIABLES
    links = {name for name in names if _SERVICE_LINK.fullmatch(name)}
    # IDP_TEST_ alone is prose ("when IDP_TEST_* are set").
    assert names - known - links - {"IDP_TEST"} == set()


def test_production_refuses_change_me_placeholders_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="pairwise_salt: still holds the placeholder"):
        validate(_prod(pairwise_salt="CHANGE-ME-random"))
    with pytest.raises(ConfigError, match="metrics_token: still holds the placeholder"):
        validate(_prod(metrics_token="CHANGE-ME"))
    with pytest.raises(ConfigError, match="smtp_password: still holds the placeholder"):
        validate(_from_file(tmp_path, 'smtp_password = "CHANGE-ME"\n', IDP_ENV="production"))
    with pytest.raises(ConfigError, match="fc_client_secret: still holds the placeholder"):
        validate(load_config(environ={
            "IDP_ENV": "production", "IDP_ISSUER": "https://idp.example.gouv.fr",
            "IDP_SECRET_KEY": "s" * 48, "IDP_DATABASE_URL": "postgresql://idp@db/idp",
            "IDP_FC_ISSUER": "https://fc.example", "IDP_FC_CLIENT_ID": "id",
            "IDP_FC_CLIENT_SECRET": "CHANGE-ME"}))
    # Outside production a placeholder is only a value (the demo uses one).
    values = validate(load_config({"var_dir": str(tmp_path), "metrics_token": "CHANGE-ME"},
                                  environ={}))
    assert values["metrics_token"] == "CHANGE-ME"


def _replace_placeholders(text):
    import re
    import secrets

    return re.sub(r"CHANGE-ME[\w-]*", lambda _: secrets.token_urlsafe(40), text)


def test_the_production_example_with_placeholders_filled_in_passes_validation(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "conf" / "production.example.toml"
    raw = _from_file(tmp_path, example.read_text())
    with pytest.raises(ConfigError, match="still holds the placeholder CHANGE-ME"):
        validate(raw)
    values = validate(_from_file(tmp_path, _replace_placeholders(example.read_text())))
    assert values["env"] == "production"
    assert values["database_url"].startswith("postgresql+psycopg://idp:")
    assert values["trusted_proxies"] == 1 and values["log_json"] is True


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("log_level", "VERBOSE", "log_level: must be one of DEBUG, INFO, WARNING"),
        ("redis_url", "127.0.0.1:6379", "redis_url: must be a redis://"),
        ("redis_url", "http://127.0.0.1:6379/0", "redis_url: must be a redis://"),
        ("redis_url", "redis://127.0.0.1:port/0", r"redis_url: not a valid URL"),
        ("redis_url", "unix://", "redis_url: must be"),
        ("database_url", "mysql://idp:s3cr3t@db/idp", "database_url: mysql is not supported; "
                                                   "only SQLite .* and PostgreSQL"),
        ("database_url", "mariadb+pymysql://idp@db/idp", "database_url: .* is not supported"),
        ("database_url", "postgresql+psycopg2://idp@db/idp", "database_url: .* not supported"),
        ("database_url", "127.0.0.1:5432", "database_url: not a database URL"),
        ("database_url", "postgresql://idp:s3cr3t@db:port/idp", "database_url: not a database URL"),
        ("sms_backend", "carrier-pigeon", "sms_backend: must be outbox or http"),
        ("fc_issuer", "oidc.franceconnect.gouv.fr", "fc_issuer: must be an absolute http"),
    ],
)
def test_bad_values_give_a_one_line_error_naming_the_key(tmp_path, monkeypatch, key, value,
                                                        message):
    monkeypatch.chdir(tmp_path)
    environ = {"IDP_VAR_DIR": str(tmp_path), "IDP_FC_CLIENT_ID": "a",
               "IDP_FC_CLIENT_SECRET": "b"}
    with pytest.raises(ConfigError, match=message) as file_error:
        validate(_from_file(tmp_path, f'{key} = "{value}"\n', **environ))
    with pytest.raises(ConfigError, match=message) as env_error:
        validate(load_config(environ={f"IDP_{key.upper()}": value, **environ}))
    for error in (file_error, env_error):
        assert "\n" not in str(error.value)
        assert "s3cr3t" not in str(error.value)  # a URL's password is never echoed


def test_log_level_is_case_insensitive(tmp_path):
    values = validate(load_config(environ={"IDP_LOG_LEVEL": "warning",
                                           "IDP_VAR_DIR": str(tmp_path)}))
    assert values["log_level"] == "WARNING"


@pytest.mark.parametrize(
    "url", ["redis://redis.internal:6379/0", "rediss://:pw@redis.internal:6380/1",
            "unix:///run/redis/redis.sock?db=2"],
)
def test_redis_url_schemes(tmp_path, url):
    values = validate(load_config({"var_dir": str(tmp_path)}, environ={"IDP_REDIS_URL": url}))
    assert values["redis_url"] == url


def test_postgres_scheme_is_an_alias_of_postgresql():
    values = validate(_prod(database_url="postgres://idp:s3cret@db:5432/idp"))
    assert values["database_url"] == "postgresql+psycopg://idp:s3cret@db:5432/idp"
    same = validate(_prod(database_url="postgresql+psycopg://idp@db/idp"))
    assert same["database_url"] == "postgresql+psycopg://idp@db/idp"


def test_the_test_suite_configuration_loads(tmp_path):
    from tests.conftest import TEST_CONFIG

    values = validate(load_config(dict(TEST_CONFIG, var_dir=str(tmp_path)), environ={}))
    assert values["env"] == "testing"


def test_the_variables_kubernetes_adds_for_a_service_named_idp_are_left_alone():
    values = load_config(environ={
        "IDP_SERVICE_HOST": "10.0.0.7", "IDP_SERVICE_PORT": "8000",
        "IDP_PORT": "tcp://10.0.0.7:8000", "IDP_PORT_8000_TCP_ADDR": "10.0.0.7",
        "IDP_SMTP_PORT": "2525"})
    assert values["smtp_port"] == 2525  # a key that looks like one is still a key
    with pytest.raises(ConfigError, match="IDP_TRUSTED_PROXY: unknown"):
        load_config(environ={"IDP_TRUSTED_PROXY": "1"})


def test_a_bad_redis_url_never_shows_its_password():
    with pytest.raises(ConfigError) as refused:
        validate(load_config(environ={
            "IDP_REDIS_URL": "redis://:Xk9pQz/Lm2+Rt==@redis.internal:6379/0"}))
    assert "Xk9pQz" not in str(refused.value) and refused.value.__cause__ is None
