"""A live FranceConnect simulator process, and the provider configured to use it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from idp.app import create_app
from tests.conftest import TEST_CONFIG
from tests.conftest import csrf_from

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "idp-test", "sim-secret-for-tests"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def fc_sim():
    """The simulator as a real process on loopback, with fault injection on."""
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/api/v2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.franceconnect_sim", "--port", str(port),
         "--issuer", issuer, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
         "--redirect-uri", "http://localhost/federation/franceconnect/retour",
         "--post-logout-redirect-uri", "http://localhost/federation/franceconnect/deconnexion",
         "--faults", "--timeout-delay", "3"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the FranceConnect simulator did not start")

    class Sim:
        def __init__(self):
            self.issuer, self.base, self.http = issuer, base, requests.Session()

        def faults(self, **faults):
            requests.post(f"{base}/_sim/faults", json=faults, timeout=5).raise_for_status()

        def rotate_keys(self):
            requests.post(f"{base}/_sim/rotate-keys", timeout=5).raise_for_status()

    sim = Sim()
    yield sim
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def fc_app(app, fc_sim):
    """The provider, on the same database as `app`, with FranceConnect configured."""
    config = dict(TEST_CONFIG, database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                  var_dir=app.config["VAR_DIR"], fc_issuer=fc_sim.issuer,
                  fc_client_id=CLIENT_ID, fc_client_secret=CLIENT_SECRET, fc_timeout=1.0,
                  fc_retries=1)
    return create_app(config)


def _wait_for(url, proc, name):
    for _ in range(100):
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} did not start")


@pytest.fixture(scope="session")
def mal_fc():
    """A malicious FranceConnect (tests/federation/malicious_fc.py) as a real process: it
    signs, with its own published key, whatever its mode says."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.federation.malicious_fc", "--port", str(port),
         "--client-id", CLIENT_ID],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}/api/v2"
    _wait_for(f"{issuer}/.well-known/openid-configuration", proc, "the malicious upstream")

    class Malicious:
        def __init__(self):
            self.issuer, self.base = issuer, f"http://127.0.0.1:{port}"

        def mode(self, **mode):
            requests.post(f"{self.base}/_mal/mode", json=mode, timeout=5).raise_for_status()

    yield Malicious()
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def mal_app(app, mal_fc):
    """The provider, on the same database as `app`, with the malicious upstream as its
    FranceConnect (1 s per read, no retry: an exchange ends within 3 s)."""
    config = dict(TEST_CONFIG, database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                  var_dir=app.config["VAR_DIR"], fc_issuer=mal_fc.issuer,
                  fc_client_id=CLIENT_ID, fc_client_secret=CLIENT_SECRET, fc_timeout=1.0,
                  fc_retries=0)
    return create_app(config)


@pytest.fixture
def mal_user(mal_app, mal_fc):
    """A person logging in through the malicious upstream; its mode reset after."""
    mal_fc.mode()
    yield lambda: FranceConnectUser(mal_app, mal_fc, "anyone")
    mal_fc.mode()


@pytest.fixture(autouse=True)
def _reset_faults(fc_sim):
    fc_sim.faults()
    yield
    fc_sim.faults()


class FranceConnectUser:
    """A person's browser: the test client on our side, requests on FranceConnect's."""

    def __init__(self, app, sim, login):
        self.browser = app.test_client()
        self.sim = sim
        self.login = login
        self.fc = requests.Session()

    def start(self, flow=None):
        """Click "S'identifier avec FranceConnect" on the login page."""
        page = self.browser.get("/login" + (f"?flow={flow}" if flow else ""))
        assert "S'identifier avec" in page.text
        action = "/federation/franceconnect/connexion" + (f"?flow={flow}" if flow else "")
        response = self.browser.post(action, data={"csrf_token": csrf_from(page.text)})
        assert response.status_code == 302, response.text[:300]
        return response.headers["Location"]

    def authenticate_upstream(self, authorize_url, action="login"):
        """Log in at the simulator; return our callback URL it redirects to."""
        url = authorize_url
        for _ in range(6):
            response = self.fc.get(url, allow_redirects=False, timeout=10)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["Location"])
                if url.startswith("http://localhost/"):
                    return url
                continue
            form = re.search(r'<form method="post" action="([^"]+)"', response.text)
            assert form, response.text[:500]
            posted = self.fc.post(urljoin(url, form.group(1).replace("&amp;", "&")),
                                  data={"login": self.login, "password": "123",
                                        "action": action},
                                  allow_redirects=False, timeout=10)
            url = urljoin(url, posted.headers["Location"])
            if url.startswith("http://localhost/"):
                return url
        raise AssertionError("no redirect back from FranceConnect")

    def back(self, callback_url):
        """Our callback, as the browser would follow it."""
        parts = urlsplit(callback_url)
        # Buffered: read whole, as a server does before closing (messages sent then).
        return self.browser.get(f"{parts.path}?{parts.query}", buffered=True)

    def full_login(self, flow=None):
        """Start, log in upstream and come back; the response of our callback."""
        return self.back(self.authenticate_upstream(self.start(flow)))


@pytest.fixture
def fc_user(fc_app, fc_sim):
    """Factory: a FranceConnect test person using our provider."""
    return lambda login="claire": FranceConnectUser(fc_app, fc_sim, login)


# The directory family and the SMS outbox of the activation tests serve here too.
from tests.activation.conftest import family  # noqa: E402,F401
from tests.activation.conftest import outbox  # noqa: E402,F401
from tests.oauth.conftest import backchannel  # noqa: E402,F401
