"""UserInfo's answers to requests without a usable bearer token (RFC 6750 3.1)."""

import pytest


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_a_request_without_a_bearer_token_gets_the_challenge_without_error_code(
    client, headers
):
    response = client.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="userinfo"'
    assert response.json == {}


def test_an_empty_bearer_token_is_a_malformed_request(client):
    response = client.get("/userinfo", headers={"Authorization": "Bearer   "})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_an_unknown_bearer_token_is_invalid(client):
    response = client.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json["error"] == "invalid_token"
