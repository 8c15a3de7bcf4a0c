"""Limits on the chat surfaces: each refuses exactly at its threshold with a 429 that names it, with Retry-After,
and nothing sent upstream; remaining quota in x-ratelimit-* headers and in the monitoring API."""
from __future__ import annotations

import pytest

from aichat.runtime import runtime_of
from tests.api.openapi_check import assert_matches_openapi
from tests.limits.conftest import PROXY, add_key, set_site_limits, v1

# Estimated tokens of the test body: "hi" (1) + 4 of framing + max_tokens 20; every call really uses 30.
ESTIMATE, REAL = 25, 30


def sent(fake_openai) -> int:
    return len(fake_openai.requests)


def test_a_site_request_limit_refuses_the_request_past_it_in_openais_shape(limited_app, fake_openai):
    set_site_limits(limited_app, rpm=3)
    key, client = add_key(limited_app), limited_app.test_client()
    answers = [v1(client, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
    assert answers[0].headers["x-ratelimit-reset-requests"].endswith("s")
    refused = v1(client, key)
    assert refused.status_code == 429
    error = refused.json["error"]
    assert (error["code"], error["type"]) == ("rate_limited", "rate_limit_error")
    assert {k: error["limit"][k] for k in ("name", "scope", "owner", "window", "limit", "used")} == {
        "name": "rpm", "scope": "site", "owner": "site", "window": "minute", "limit": 3, "used": 3}
    assert int(refused.headers["Retry-After"]) == error["limit"]["retry_after"] and 1 <= error["limit"]["retry_after"] <= 60
    assert "per minute for this site" in error["message"]
    assert sent(fake_openai) == 3, "the refused request went upstream"


def test_a_key_limit_on_the_browser_endpoint_answers_in_the_api_shape(limited_app, fake_openai):
    key, client = add_key(limited_app, rpm=2), limited_app.test_client()
    body = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
    headers = {"Authorization": f"Bearer {key}"}
    assert [client.post(PROXY, json=body, headers=headers).status_code for _ in range(2)] == [200, 200]
    refused = client.post(PROXY, json=body, headers=headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    error = refused.json["error"]
    assert error["code"] == "rate_limited" and error["request_id"] == refused.headers["X-Request-ID"]
    assert (error["limit"]["scope"], error["limit"]["owner"]) == ("key", "key")
    assert_matches_openapi(client, refused, "post")
    assert sent(fake_openai) == 2


def test_per_address_limits_count_each_client_address_apart(limited_app, fake_openai):
    set_site_limits(limited_app, rpm_ip=2)
    key, client = add_key(limited_app), limited_app.test_client()
    assert [v1(client, key, ip="198.51.100.1").status_code for _ in range(2)] == [200, 200]
    assert v1(client, key, ip="2001:db8::1").status_code == 200
    refused = v1(client, key, ip="198.51.100.1")
    assert refused.status_code == 429 and refused.json["error"]["limit"]["scope"] == "ip"
    assert sent(fake_openai) == 3


def test_tokens_per_minute_refuse_exactly_past_the_threshold(limited_app, fake_openai):
    # Two calls settled at 30 each, then a third estimated at 25: 85 fits a limit of 85 exactly, a fourth does not.
    set_site_limits(limited_app, tpm=2 * REAL + ESTIMATE)
    key, client = add_key(limited_app), limited_app.test_client()
    answers = [v1(client, key) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers["x-ratelimit-remaining-tokens"] for a in answers] == ["60", "30", "0"]
    refused = v1(client, key)
    assert refused.status_code == 429
    limit = refused.json["error"]["limit"]
    assert refused.json["error"]["code"] == "tokens_exhausted"
    assert (limit["name"], limit["window"], limit["used"], limit["requested"]) == ("tpm", "minute", 3 * REAL, ESTIMATE)
    assert sent(fake_openai) == 3


def test_a_key_without_max_tokens_reserves_the_default_completion_estimate(limited_app, fake_openai):
    key = add_key(limited_app, tpd=5 + 100)
    client = limited_app.test_client()
    limited_app.config["AICHAT_LIMITS_COMPLETION_ESTIMATE"] = 101
    refused = v1(client, key, max_tokens=None)
    assert refused.status_code == 429 and refused.json["error"]["limit"]["requested"] == 106
    assert refused.json["error"]["limit"]["window"] == "day"
    limited_app.config["AICHAT_LIMITS_COMPLETION_ESTIMATE"] = 100
    assert v1(client, key, max_tokens=None).status_code == 200
    assert sent(fake_openai) == 1


def test_a_daily_budget_stops_traffic_once_spent(limited_app, fake_openai):
    # gpt-4o-mini: 10 prompt tokens at 0.15/M and 20 completion tokens at 0.60/M = 0.0000135 USD a call.
    set_site_limits(limited_app, cost_day="0.00004")
    key, client = add_key(limited_app), limited_app.test_client()
    assert [v1(client, key).status_code for _ in range(3)] == [200] * 3  # 0, 0.0000135, 0.000027 spent before
    refused = v1(client, key)
    assert refused.status_code == 429
    error = refused.json["error"]
    assert error["code"] == "budget_exhausted"
    assert {k: error["limit"][k] for k in ("name", "window", "limit", "used", "currency")} == {
        "name": "cost_day", "window": "day", "limit": "0.00004", "used": "0.0000405", "currency": "USD"}
    assert sent(fake_openai) == 3


def test_a_failed_call_gives_its_tokens_back_and_a_stream_settles_at_its_end(limited_app, fake_openai):
    key = add_key(limited_app, tpm=1000, rpm=100)
    client = limited_app.test_client()
    fake_openai.plan(error="context_length_exceeded", times=1)
    assert v1(client, key).status_code == 400
    assert used(limited_app, "tpm", key=True) == 0 and used(limited_app, "rpm", key=True) == 1
    assert v1(client, key, model="no-such-model").status_code == 404
    assert used(limited_app, "tpm", key=True) == 0
    with v1(client, key, stream=True, stream_options={"include_usage": True}) as streamed:
        assert streamed.status_code == 200 and streamed.headers["x-ratelimit-remaining-tokens"] == str(1000 - ESTIMATE)
        streamed.get_data()
    assert used(limited_app, "tpm", key=True) == REAL


def test_limits_change_without_restart(limited_app):
    set_site_limits(limited_app, rpm=1)
    key, client = add_key(limited_app), limited_app.test_client()
    assert [v1(client, key).status_code for _ in range(2)] == [200, 429]
    set_site_limits(limited_app, rpm=3)
    assert [v1(client, key).status_code for _ in range(3)] == [200, 200, 429]
    set_site_limits(limited_app)
    answer = v1(client, key)
    # Only the gateway's own limit per address (AICHAT_RATE_LIMIT, 10000 a second in the tests) is left.
    assert answer.status_code == 200 and answer.headers["x-ratelimit-limit-requests"] == "10000"


def test_the_monitoring_api_shows_what_is_used_and_left(limited_app, make_admin):
    set_site_limits(limited_app, rpm=10, cost_month="5")
    key, client = add_key(limited_app, tpm=1000), limited_app.test_client()
    add_key(limited_app, name="no limits of its own")
    assert v1(client, key).status_code == 200
    token = make_admin(limited_app)[1]
    answer = client.get("/api/v1/ai-monitoring/quota", headers={"Authorization": f"Bearer {token}"})
    assert_matches_openapi(client, answer)
    body = answer.json
    assert body["scope"] == "worker_process"
    (site,) = body["sites"]
    assert site["site_domain"] == "localhost"
    rows = {row["name"]: row for row in site["limits"]}
    assert (rows["rpm"]["used"], rows["rpm"]["remaining"]) == (1, 9)
    assert rows["cost_month"] == {**rows["cost_month"], "used": "0.0000135", "remaining": "4.9999865",
                                  "currency": "USD", "window": "month"}
    (shown,) = site["keys"]
    assert shown["name"] == "backend" and key not in str(body) and shown["prefix"] in key
    assert shown["limits"][0] == {**shown["limits"][0], "name": "tpm", "used": REAL, "remaining": 1000 - REAL}
    other = client.get("/api/v1/ai-monitoring/quota?site_domain=other.example",
                       headers={"Authorization": f"Bearer {token}"}).json
    assert other["sites"] == []
    assert client.get("/api/v1/ai-monitoring/quota").status_code == 401


def used(app, name: str, key: bool = False) -> int:
    directory = runtime_of(app).directory
    site = directory.local_site
    spec = next(k for k in directory.keys.values() if k.site_id == site.id and k.limits.any) if key else None
    return next(row["used"] for row in runtime_of(app).quota.view(site, spec) if row["name"] == name)


@pytest.mark.parametrize("surface", ["v1", "proxy"])
@pytest.mark.parametrize("per_address", ["off", "5/minute"])
def test_without_limits_of_the_site_or_key_only_the_address_limit_is_in_the_headers(gateway_app, surface,
                                                                                    per_address):
    app = gateway_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_RATE_LIMIT=per_address)
    key, client = add_key(app), app.test_client()
    if surface == "v1":
        answer = v1(client, key)
    else:
        answer = client.post(PROXY, json={"messages": [{"role": "user", "content": "hi"}]},
                             headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    shown = {h.lower(): v for h, v in answer.headers.items() if h.lower().startswith("x-ratelimit")}
    if per_address == "off":
        assert shown == {}
    else:
        assert shown == {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "4",
                         "x-ratelimit-reset-requests": shown["x-ratelimit-reset-requests"]}


def test_a_browser_is_counted_against_its_sites_limits(limited_app, fake_openai):
    set_site_limits(limited_app, rpm=1)
    client = limited_app.test_client()
    body = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
    first = client.post(PROXY, json=body, headers={"Origin": "http://localhost"})
    assert first.status_code == 200 and first.headers["x-ratelimit-remaining-requests"] == "0"
    refused = client.post(PROXY, json=body, headers={"Origin": "http://localhost"})
    assert refused.status_code == 429 and refused.json["error"]["limit"]["owner"] == "site"
    assert len(fake_openai.requests) == 1
