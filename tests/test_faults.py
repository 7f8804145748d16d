"""Database or Redis unreachable: a 503 with a clear message, and recovery without restart."""

import shutil
import socket
import subprocess
import time

import pytest
from flask_migrate import upgrade

from idp.app import create_app
from tests.conftest import TEST_CONFIG
from tests.conftest import csrf_from


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_unreachable_gives_503_pages_and_json(tmp_path):
    app = create_app(dict(TEST_CONFIG, redis_url="",
                          database_url=f"postgresql://nobody@127.0.0.1:{_free_port()}/x",
                          var_dir=str(tmp_path)))
    browser = app.test_client()
    page = browser.get("/authorize?client_id=x&redirect_uri=https://a.example/cb"
                       "&response_type=code&scope=openid")
    assert page.status_code == 503
    assert "momentanément indisponible" in page.text
    token = browser.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                         "client_id": "x", "client_secret": "y"})
    assert token.status_code == 503
    assert token.json == {"error": "temporarily_unavailable"}
    ready = browser.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == "unavailable"
    assert browser.get("/healthz").status_code == 200
    # The signing keys come from the database: the JWKS is unavailable too, while the
    # discovery document (from the configuration) is still served.
    jwks = browser.get("/jwks")
    assert jwks.status_code == 503 and jwks.json == {"error": "temporarily_unavailable"}
    assert browser.get("/.well-known/openid-configuration").status_code == 200


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server binary")
def test_redis_outage_gives_503_then_recovers_without_restart(tmp_path, make_account):
    port = _free_port()

    def start():
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                return proc
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    redis_proc = start()
    try:
        app = create_app(dict(TEST_CONFIG, redis_url=f"redis://127.0.0.1:{port}/0",
                              database_url=f"sqlite:///{tmp_path}/faults.db",
                              var_dir=str(tmp_path)))
        with app.app_context():
            upgrade()
            app.extensions["idp"].keys.ensure()
        browser = app.test_client()

        def login():
            page = browser.get("/login")
            return browser.post("/login", data={"csrf_token": csrf_from(page.text),
                                                "identifier": "x.nobody", "password": "x"})

        assert login().status_code == 401
        redis_proc.terminate()
        redis_proc.wait(10)
        down = login()
        assert down.status_code == 503
        assert "momentanément indisponible" in down.text
        assert browser.get("/readyz").json["checks"]["redis"] == "unavailable"
        redis_proc = start()
        assert login().status_code == 401
        assert browser.get("/readyz").status_code == 200
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)


def test_plain_http_protocol_requests_are_refused_when_https_is_required(client,
                                                                        monkeypatch):
    # As in production, where only https is accepted (behind trusted proxies).
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    response = client.post("/token", data={"grant_type": "authorization_code", "code": "x"},
                           base_url="http://idp.example.org")
    assert response.status_code == 400
    assert response.json == {"error": "invalid_request",
                             "error_description": "HTTPS is required"}
