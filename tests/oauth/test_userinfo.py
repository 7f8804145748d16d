"""UserInfo's answers to requests without a usable bearer token (RFC 6750 3.1), and
what its claims mean."""

import time

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


def test_updated_at_is_when_the_information_changed_not_the_last_login(client, rp,
                                                                        make_account):
    person = make_account()

    def updated_at():
        callback = rp.code_flow(person["identifier"], person["password"], prompt="login")
        token = rp.token(callback["code"]).json["access_token"]
        info = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        return info.json["updated_at"]

    first = updated_at()
    time.sleep(1.1)
    wrong = rp.login(rp.authorize(prompt="login"), person["identifier"], "Wrong-Horse-42")
    assert wrong.status_code == 401
    assert updated_at() == first
