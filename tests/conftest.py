"""Shared fixtures: a migrated database (SQLite, or PostgreSQL/Redis when the
IDP_TEST_* variables are set), the app, factories for accounts and clients, and a
relying-party driver that goes through the hosted pages like a browser would."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import uuid
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from idp.app import create_app
from idp.extensions import db
from idp.services import accounts as account_service
from idp.services import clients as client_service

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL")
RUN_ID = uuid.uuid4().hex[:10]


def _database_url(tmp_path_factory) -> str:
    if not PG_URL:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'idp.sqlite3'}"
    # One schema per test run, so that parallel runs never see each other's rows.
    schema = f"t_{RUN_ID}"
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema():
    if not PG_URL:
        return
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "t_{RUN_ID}" CASCADE'))
    engine.dispose()


TEST_CONFIG = {
    "env": "testing",
    "issuer": "http://localhost",
    "secret_key": "test-secret-key-" + "x" * 40,
    "pairwise_salt": "test-salt",
    "redis_url": REDIS_URL or "",
    "redis_prefix": f"idp-test-{RUN_ID}:",
}


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application on a freshly migrated database (schema from Alembic only)."""
    config = dict(TEST_CONFIG, database_url=_database_url(tmp_path_factory),
                  var_dir=str(tmp_path_factory.mktemp("var")))
    application = create_app(config)
    with application.app_context():
        upgrade()
        application.extensions["idp"].keys.ensure()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    _drop_schema()


KEEP_TABLES = {"signing_keys", "alembic_version"}


@pytest.fixture(autouse=True)
def _clean(app):
    """Each test starts from empty tables (keys kept) and a fresh Redis namespace."""
    yield
    with app.app_context():
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                db.session.execute(table.delete())
        db.session.commit()
        provider = app.extensions["idp"]
        if provider.redis is not None:
            for key in provider.redis.scan_iter(f"{app.config['REDIS_PREFIX']}*"):
                provider.redis.delete(key)
        provider.keys.invalidate()
        app.extensions.pop("idp.discovery", None)
        app.extensions.pop("idp.client_cache", None)


@pytest.fixture
def ctx(app):
    """An application context for direct service calls."""
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    """A browser: the Flask test client with its cookie jar."""
    return app.test_client()


@pytest.fixture
def make_account(app):
    """Factory: an active account with a password."""

    def factory(identifier=None, password="Correct-Horse-42", **fields):
        identifier = identifier or f"p.user{secrets.randbelow(10**6)}"
        with app.app_context():
            account = account_service.create(
                app.extensions["idp"].passwords, identifier=identifier, password=password,
                given_name=fields.pop("given_name", "Camille"),
                family_name=fields.pop("family_name", "MARTIN"),
                **fields,
            )
            db.session.commit()
            return {"identifier": account.identifier, "password": password, "id": account.id,
                    "public_id": account.public_id}

    return factory


@pytest.fixture
def make_client(app):
    """Factory: a registered client; returns its registration and secret."""

    def factory(**fields):
        fields.setdefault("name", "Service test")
        fields.setdefault("redirect_uris", ["https://rp.example.org/callback"])
        fields.setdefault("post_logout_redirect_uris", ["https://rp.example.org/logged-out"])
        with app.app_context():
            row, secret = client_service.register(**fields)
            data = client_service.describe(row)
            data["client_secret"] = secret
            return data

    return factory


def pkce_pair():
    """Return (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()
    ).rstrip(b"=").decode()
    return verifier, challenge


def csrf_from(html: str) -> str:
    """Extract the CSRF token of the first form in a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def query_of(location: str) -> dict:
    """The query parameters of a redirect Location, single-valued."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class RelyingParty:
    """Drives the code flow through the HTTP interface as a relying service would,
    with the test client acting as the person's browser."""

    def __init__(self, browser, registration, scope="openid profile email"):
        self.browser = browser
        self.reg = registration
        self.scope = scope
        self.redirect_uri = registration["redirect_uris"][0]

    def authorize_params(self, **extra):
        """A fresh authorization request with state, nonce and PKCE."""
        self.verifier, challenge = pkce_pair()
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.reg["client_id"],
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **extra):
        """GET /authorize; returns the response."""
        return self.browser.get("/authorize?" + urlencode(self.authorize_params(**extra)))

    def login(self, response, identifier, password):
        """Follow a redirect to the login page and submit the form."""
        assert response.status_code == 302, response.data[:500]
        page = self.browser.get(response.headers["Location"])
        assert page.status_code == 200
        flow = re.search(r'name="flow" value="([^"]+)"', page.text)
        form = {"csrf_token": csrf_from(page.text), "identifier": identifier,
                "password": password}
        if flow:
            form["flow"] = flow.group(1)
        return self.browser.post("/login", data=form)

    def follow_to_callback(self, response):
        """Follow our redirects until one leaves for the client's redirect URI."""
        for _ in range(5):
            assert response.status_code == 302, response.data[:800]
            location = response.headers["Location"]
            if location.startswith(self.redirect_uri):
                return query_of(location)
            response = self.browser.get(location)
        raise AssertionError("no redirect to the client")

    def code_flow(self, identifier, password, **extra):
        """Authorize, log in, and return the callback parameters."""
        response = self.authorize(**extra)
        if response.status_code == 302 and "/login" in response.headers["Location"]:
            response = self.login(response, identifier, password)
        return self.follow_to_callback(response)

    def token(self, code, verifier=None, **extra):
        """Redeem a code at the token endpoint with client_secret_basic."""
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier or self.verifier}
        data.update(extra)
        return self.browser.post("/token", data=data, headers=self.auth_headers())

    def refresh(self, refresh_token, **extra):
        """Use a refresh token."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        return self.browser.post("/token", data=data, headers=self.auth_headers())

    def auth_headers(self):
        """HTTP Basic client authentication (none for public clients)."""
        if not self.reg.get("client_secret"):
            return {}
        raw = f"{self.reg['client_id']}:{self.reg['client_secret']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def rp(client, make_client):
    """A confidential relying party with its browser."""
    return RelyingParty(client, make_client())
