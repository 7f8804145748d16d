"""Configuration layering and start-up validation."""

import pytest

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
