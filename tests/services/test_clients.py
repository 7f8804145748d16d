"""Client authentication against the per-worker cache of registrations, when another
process (`idp clients rotate-secret`, run elsewhere) changes a secret."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager

from sqlalchemy import event

from idp.extensions import db


def _rotate_in_another_process(app, client_id: str) -> str:
    """`idp clients rotate-secret` run as an operator runs it, on the app's database."""
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_ENV="testing", IDP_DATABASE_URL=url, IDP_SECRET_KEY=app.config["SECRET_KEY"],
               IDP_VAR_DIR=app.config["VAR_DIR"])
    result = subprocess.run([sys.executable, "-m", "idp.cli", "--json", "clients",
                             "rotate-secret", client_id],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["client_secret"]


@contextmanager
def client_queries(app):
    """Collect the statements that read the clients table."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM clients" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_secret_rotated_elsewhere_works_at_once_on_a_worker_that_cached_the_client(
        app, rp, make_account):
    person = make_account()
    first = rp.code_flow(person["identifier"], person["password"])
    with client_queries(app) as queries:
        assert rp.token(first["code"]).status_code == 200
    assert queries == []  # authenticated from this worker's cached registration
    old = rp.reg["client_secret"]
    new = _rotate_in_another_process(app, rp.reg["client_id"])

    second = rp.code_flow(person["identifier"], person["password"])
    rp.reg["client_secret"] = new
    with client_queries(app) as queries:
        assert rp.token(second["code"]).status_code == 200
    assert len(queries) == 1  # the cached entry failed: read once from the database

    # This worker now holds the new registration: the old secret is refused at once,
    # and the new one authenticates from memory again.
    third = rp.code_flow(person["identifier"], person["password"])
    rp.reg["client_secret"] = old
    refused = rp.token(third["code"])
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    rp.reg["client_secret"] = new
    with client_queries(app) as queries:
        assert rp.token(third["code"]).status_code == 200
    assert queries == []


def test_a_wrong_secret_is_refused_after_one_read(app, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    secret = rp.reg["client_secret"]
    rp.reg["client_secret"] = secret + "x"
    with client_queries(app) as queries:
        response = rp.token(callback["code"])
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert len(queries) == 1
    # The code was not spent by the failed authentication.
    rp.reg["client_secret"] = secret
    assert rp.token(callback["code"]).status_code == 200


def test_a_client_removed_elsewhere_is_refused_once_its_secret_fails(app, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    new = _rotate_in_another_process(app, rp.reg["client_id"])
    with app.app_context():
        # Removed by a statement this process's ORM does not see (like the CLI elsewhere).
        db.session.execute(db.text("DELETE FROM clients WHERE client_id = :id"),
                           {"id": rp.reg["client_id"]})
        db.session.commit()
    rp.reg["client_secret"] = new
    assert rp.token(callback["code"]).status_code == 401
