"""/readyz tells a load balancer whether the node can serve: 503, naming the failed check,
when its database's schema is behind its code (an `idp db upgrade` is due) or when its
secret_key cannot open the signing keys, as when the database or Redis is down."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from idp import runtime
from idp.app import create_app
from idp.extensions import db
from tests.conftest import PG_URL
from tests.conftest import REDIS_URL
from tests.conftest import TEST_CONFIG

# Every check when all is well (Redis only when the tests run with it).
ALL_OK = {"database": "ok", "schema": "ok", "signing_keys": "ok",
          **({"redis": "ok"} if REDIS_URL else {})}


@pytest.fixture
def fresh_database(tmp_path):
    """The URL of an empty database: a SQLite file, or a new PostgreSQL schema."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'ready.sqlite3'}"
        return
    schema = f"r_{uuid.uuid4().hex[:12]}"
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def make_app(tmp_path):
    """Factory: an application on a database URL (engines disposed afterwards)."""
    apps = []

    def factory(database_url, **config):
        application = create_app(dict(TEST_CONFIG, database_url=database_url,
                                      var_dir=str(tmp_path / f"var{len(apps)}"), **config))
        apps.append(application)
        return application

    yield factory
    for application in apps:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _ready(application):
    response = application.test_client().get("/readyz")
    return response.status_code, response.json


def test_a_node_ready_to_serve_answers_200(app):
    status, body = _ready(app)
    assert (status, body) == (200, {"status": "ok", "checks": ALL_OK})


def test_a_schema_behind_the_code_keeps_the_node_out_until_the_upgrade(fresh_database,
                                                                      make_app):
    """A node started on the new code before `idp db upgrade` (the database at the
    previous revision): not ready, then ready as soon as the upgrade is done."""
    node = make_app(fresh_database)
    with node.app_context():
        upgrade(revision="0005")  # before 0006_refresh_scope, which the code needs
        node.extensions["idp"].keys.ensure()
    status, body = _ready(node)
    assert status == 503
    assert body == {"status": "unavailable", "checks": dict(ALL_OK, schema="behind")}
    assert node.test_client().get("/healthz").status_code == 200  # alive all the same

    with node.app_context():
        upgrade()
    assert _ready(node) == (200, {"status": "ok", "checks": ALL_OK})


def test_a_database_never_migrated_is_not_ready(fresh_database, make_app):
    node = make_app(fresh_database)
    status, body = _ready(node)
    assert status == 503
    checks = {"database": "ok", "schema": "missing"}
    if REDIS_URL:
        checks["redis"] = "ok"
    assert body == {"status": "unavailable", "checks": checks}


def test_a_schema_migrated_by_a_newer_release_is_served(fresh_database, make_app):
    """During a rolling upgrade the nodes still on the previous code keep serving on the
    upgraded database (migrations are additive first): a revision this code does not know
    is taken for a newer one."""
    node = make_app(fresh_database)
    with node.app_context():
        upgrade()
        node.extensions["idp"].keys.ensure()
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        db.session.commit()
    assert _ready(node) == (200, {"status": "ok", "checks": ALL_OK})


def test_a_node_whose_secret_key_cannot_open_the_signing_keys_is_not_ready(app, make_app):
    """A second node on the same database with another secret_key: every token it would
    issue fails (SealError), so it stays out of rotation; the first node stays in."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"],
                     secret_key="another-secret-key-" + "y" * 40)
    status, body = _ready(other)
    assert status == 503
    assert body == {"status": "unavailable", "checks": dict(ALL_OK, signing_keys="unusable")}
    assert _ready(app)[0] == 200


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_signing_keys_are_checked_once_a_minute(fresh_database, make_app):
    """/readyz is polled every few seconds: the keys are opened once, the verdict kept
    for a minute, then checked again; a failure is kept (and logged) once too."""
    node = make_app(fresh_database)
    with node.app_context():
        upgrade()
        node.extensions["idp"].keys.ensure()
    clock = _Clock()
    node.extensions["idp.keys_verdict"] = runtime.KeysVerdict(clock=clock)
    for _ in range(5):
        assert _ready(node)[0] == 200
        clock.now += 5
    # Another node, with another secret_key, rotates: the next key it publishes is one
    # this node cannot open.
    other = make_app(fresh_database, secret_key="another-secret-key-" + "z" * 40)
    with other.app_context():
        other.extensions["idp"].keys.rotate()
        db.session.commit()
    node.extensions["idp"].keys.invalidate()  # as its key cache expires by itself
    clock.now = 1000.0 + runtime.KeysVerdict.ttl - 1
    assert _ready(node)[0] == 200  # still the verdict of a minute ago
    clock.now = 1000.0 + runtime.KeysVerdict.ttl
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("idp.readiness").addHandler(handler)
    try:
        status, body = _ready(node)
        assert status == 503 and body["checks"]["signing_keys"] == "unusable"
        # The failure is kept too: no decryption attempt on every probe.
        clock.now += 5
        assert _ready(node)[0] == 503
    finally:
        logging.getLogger("idp.readiness").removeHandler(handler)
    assert len(records) == 1 and records[0].getMessage().startswith("not ready: ")
