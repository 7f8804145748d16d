"""Prometheus metrics at /metrics: behind their token, every documented series present."""

import re

import pytest

from tests.recovery.conftest import login


@pytest.fixture
def metrics_token(app):
    app.config["METRICS_TOKEN"] = "metrics-secret"
    yield "metrics-secret"
    app.config["METRICS_TOKEN"] = ""


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, series
    return float(match.group(1))


def test_metrics_need_the_token_when_one_is_set(client, metrics_token):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    response = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"


def test_every_counter_series_exists_before_its_first_event(client):
    text = client.get("/metrics").text
    for series in ('idp_logins_total{result="ok"}', 'idp_logins_total{result="locked"}',
                   'idp_tokens_issued_total{grant_type="refresh_token"}',
                   'idp_activations_total{kind="parent_sms"}',
                   'idp_activations_total{kind="eleve_distributed"}',
                   'idp_messages_total{channel="sms",result="failed"}',
                   'idp_backchannel_logouts_total{result="failed"}'):
        assert _value(text, series) >= 0


def test_a_login_is_counted_and_its_latency_observed(client, make_account):
    person = make_account()
    before = client.get("/metrics").text
    assert login(client, person["identifier"], "Wrong-Horse-42").status_code == 401
    assert login(client, person["identifier"], person["password"]).status_code == 302
    after = client.get("/metrics").text
    for result in ("ok", "invalid"):
        series = f'idp_logins_total{{result="{result}"}}'
        assert _value(after, series) == _value(before, series) + 1
    count = 'idp_request_duration_seconds_count{endpoint="auth.login",method="POST"}'
    assert _value(after, count) >= 2
