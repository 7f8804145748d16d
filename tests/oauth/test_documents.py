"""Discovery and JWKS served by idp.oauth.documents in front of Flask: the same answers
as the Flask views, following key rotation, and everything else left to Flask."""

import re

import pytest
from joserfc.jwk import KeySet
from prometheus_client import REGISTRY
from werkzeug.test import Client

from idp.app import create_app
from idp.oauth.documents import Documents
from idp.services.keys import KeyService
from tests.conftest import TEST_CONFIG

DISCOVERY = "/.well-known/openid-configuration"
PATHS = (DISCOVERY, "/jwks")


@pytest.fixture
def middleware(app):
    return app.wsgi_app


@pytest.fixture
def flask_calls(middleware, monkeypatch):
    """The requests the middleware passed on to Flask (paths)."""
    calls = []
    inner = middleware.wsgi_app

    def spy(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(middleware, "wsgi_app", spy)
    return calls


def _flask_view(middleware, method, path, **kwargs):
    """What Flask alone answers, without the middleware."""
    return Client(middleware.wsgi_app).open(path, method=method, **kwargs)


def _headers(response):
    """The headers but the request id, in any order (the order has no meaning)."""
    return sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")


def test_the_middleware_is_outermost(app, middleware):
    assert isinstance(middleware, Documents)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_same_status_headers_and_body_as_the_flask_view(
    client, middleware, flask_calls, path, method
):
    client.get(path)  # loads the caches (the first JWKS request after a reset is Flask's)
    flask_calls.clear()
    served = client.open(path, method=method, headers={"X-Request-ID": "rp-42"})
    assert flask_calls == []
    expected = _flask_view(middleware, method, path, headers={"X-Request-ID": "rp-42"})
    assert served.status_code == expected.status_code == 200
    assert _headers(served) == _headers(expected)
    assert served.headers["X-Request-ID"] == expected.headers["X-Request-ID"] == "rp-42"
    assert served.get_data() == expected.get_data()


def test_bodies_are_the_documents(client, flask_calls):
    client.get("/jwks")
    flask_calls.clear()
    meta = client.get(DISCOVERY)
    keys = client.get("/jwks")
    assert flask_calls == []
    assert meta.json["jwks_uri"] == "http://localhost/jwks"
    assert meta.headers["Cache-Control"] == "public, max-age=3600"
    assert keys.headers["Cache-Control"] == "public, max-age=300"
    assert meta.headers["Access-Control-Allow-Origin"] == "*"
    assert {k["alg"] for k in keys.json["keys"]} == {"RS256", "ES256"}
    assert "Strict-Transport-Security" not in keys.headers  # http issuer


@pytest.mark.parametrize("path", PATHS)
def test_head_has_no_body_and_the_get_length(client, flask_calls, path):
    body = client.get(path).get_data()
    flask_calls.clear()
    head = client.head(path)
    assert flask_calls == []
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("path", PATHS)
def test_other_methods_go_to_flask(client, flask_calls, path):
    post = client.post(path)
    assert post.status_code == 405
    assert post.json["error"] == "invalid_request"
    assert client.options(path).status_code == 200
    assert flask_calls == [path, path]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query_string": "x=1"},
        {"cookie": True},
        {"data": b"body"},
    ],
)
def test_unusual_requests_go_to_flask_with_the_same_answer(client, flask_calls, kwargs):
    client.get("/jwks")
    flask_calls.clear()
    plain = client.get(DISCOVERY)
    if kwargs.pop("cookie", None):
        client.set_cookie("idp_csrf", "abc")  # the test client sends its jar only
    unusual = client.get(DISCOVERY, **kwargs)
    assert flask_calls == [DISCOVERY]
    assert unusual.status_code == 200
    assert unusual.get_data() == plain.get_data()
    assert _headers(unusual) == _headers(plain)


def test_nul_in_the_query_is_still_refused_by_flask(client):
    assert client.get("/jwks?x=%00").status_code == 400


def test_other_paths_go_to_flask(client, flask_calls):
    assert client.get("/jwks/").status_code == 404
    assert client.get("/healthz").status_code == 200
    assert flask_calls == ["/jwks/", "/healthz"]


@pytest.mark.parametrize("path", PATHS)
def test_request_id_is_echoed_when_valid_else_new(client, path, flask_calls):
    client.get(path)
    flask_calls.clear()
    assert client.get(path, headers={"X-Request-ID": "abc-DEF-123"}).headers[
        "X-Request-ID"] == "abc-DEF-123"
    for bad in ("", "with space", "x" * 65, "a;b"):
        rid = client.get(path, headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
    first = client.get(path).headers["X-Request-ID"]
    assert first != client.get(path).headers["X-Request-ID"]
    assert flask_calls == []


def test_jwks_follows_rotation_in_this_process(app, client, flask_calls):
    before = client.get("/jwks").json
    with app.app_context():
        rotated = app.extensions["idp"].keys.rotate("RS256")
    flask_calls.clear()
    after = client.get("/jwks")  # the cache was invalidated: the view reloads it
    assert flask_calls == ["/jwks"]
    assert after.json != before
    assert rotated[0]["active"] in {k["kid"] for k in after.json["keys"]}
    served = client.get("/jwks")
    assert flask_calls == ["/jwks"]  # then from the middleware, with the new set
    assert served.get_data() == after.get_data()
    KeySet.import_key_set(served.json)


def test_jwks_follows_rotation_by_another_process(app, client, flask_calls, monkeypatch):
    keys = app.extensions["idp"].keys
    before = client.get("/jwks").get_data()
    with app.app_context():
        other = KeyService(app.config["SECRET_KEY"], app.config["RETIRED_KEY_TTL"])
        other.rotate("ES256")
    # Within cache_seconds both the view and the middleware still publish the cached set.
    assert client.get("/jwks").get_data() == before
    flask_calls.clear()
    # Once the cache is older than cache_seconds, the table is read again.
    monkeypatch.setattr(keys, "cache_seconds", 0.0)
    reloaded = client.get("/jwks")
    assert flask_calls == ["/jwks"]
    assert reloaded.get_data() != before
    monkeypatch.setattr(keys, "cache_seconds", 30.0)
    assert client.get("/jwks").get_data() == reloaded.get_data()
    assert flask_calls == ["/jwks"]


def test_discovery_follows_its_cache(app, client, flask_calls):
    first = client.get(DISCOVERY).get_data()
    app.extensions.pop("idp.discovery")
    assert client.get(DISCOVERY).get_data() == first
    assert "idp.discovery" in app.extensions
    assert flask_calls == []


def test_requests_are_timed_with_the_view_endpoint(client, flask_calls):
    def count(endpoint, method):
        return REGISTRY.get_sample_value(
            "idp_request_duration_seconds_count", {"endpoint": endpoint, "method": method}
        ) or 0.0

    client.get("/jwks")
    before = count("oauth.jwks", "HEAD"), count("oauth.discovery", "GET")
    client.head("/jwks")
    client.get(DISCOVERY)
    assert (count("oauth.jwks", "HEAD"), count("oauth.discovery", "GET")) == (
        before[0] + 1, before[1] + 1)


def test_https_issuer_behind_trusted_proxies(app, tmp_path):
    secure = create_app(dict(TEST_CONFIG, issuer="https://idp.example.fr", trusted_proxies=1,
                             database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                             var_dir=str(tmp_path)))
    assert isinstance(secure.wsgi_app, Documents)
    browser = secure.test_client()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "idp.example.fr",
                 "X-Forwarded-For": "203.0.113.7"}
    for path in PATHS:
        browser.get(path, headers=forwarded)
        served = browser.get(path, headers=forwarded)
        expected = _flask_view(secure.wsgi_app, "GET", path, headers=forwarded)
        assert served.status_code == expected.status_code == 200
        assert _headers(served) == _headers(expected)
        assert served.get_data() == expected.get_data()
        assert served.headers["Strict-Transport-Security"].startswith("max-age=")
    assert browser.get(DISCOVERY).json["issuer"] == "https://idp.example.fr"
