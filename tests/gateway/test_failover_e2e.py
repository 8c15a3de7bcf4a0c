"""Failover, key rotation and circuits, end to end through the ai-proxy endpoint and the fake upstreams."""
import pytest

from tests.conftest import GEMINI_KEYS, OPENAI_KEYS, usage_rows
from tests.fakes import closed_port
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def post(app, **extra):
    return app.test_client().post(URL, json={**BODY, **extra})


@pytest.mark.parametrize("plan", [dict(status=500), dict(status=503), dict(status=429), dict(delay=3.0)],
                         ids=["500", "503", "429", "timeout"])
def test_a_transient_failure_moves_to_the_next_key(gateway_app, fake_gemini, plan):
    """Does a 500/429/timeout from the first key move the request to the second key?"""
    app = gateway_app(AICHAT_TOTAL_TIMEOUT=1.0)
    fake_gemini.plan(key=GEMINI_KEYS[0], **plan)
    resp = post(app)
    assert resp.status_code == 200 and resp.json["provider"] == "gemini"
    keys = [r.key for r in fake_gemini.requests]
    assert keys == GEMINI_KEYS
    rows = usage_rows(app)
    assert [(r["key_label"], r["status"], r["failed_over"]) for r in rows] == [
        ("gemini#1", "error", True), ("gemini#2", "success", False)]


def test_when_every_key_fails_the_next_provider_answers_with_its_default_model(gateway_app, fake_gemini,
                                                                               fake_openai):
    app = gateway_app()
    fake_gemini.plan(status=500, times=2)
    resp = post(app, model="gemini-2.5-pro")
    assert resp.status_code == 200
    assert resp.json["provider"] == "openai" and resp.json["model"] == "gpt-4o-mini"
    rows = usage_rows(app)
    assert [r["provider"] for r in rows] == ["gemini", "gemini", "openai"]
    assert rows[-1]["model_requested"] == "gemini-2.5-pro" and rows[-1]["model_served"] == "gpt-4o-mini"


def test_a_refused_connection_fails_over(gateway_app, fake_openai):
    app = gateway_app(GEMINI_BASE_URL=f"http://127.0.0.1:{closed_port()}")
    resp = post(app)
    assert resp.status_code == 200 and resp.json["provider"] == "openai"
    codes = [r["error_code"] for r in usage_rows(app)]
    assert codes[:2] == ["upstream_unavailable", "upstream_unavailable"]


def test_a_bad_request_is_returned_not_retried(gateway_app, fake_gemini, fake_openai):
    app = gateway_app()
    fake_gemini.plan(error="context_length_exceeded")
    resp = post(app)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == "upstream_request_invalid"
    assert "token count" in resp.json["error"]["message"]
    assert len(fake_gemini.requests) == 1 and not fake_openai.requests


def test_keys_are_used_in_turn(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"])
    for _ in range(4):
        assert post(app, model="gpt-4o-mini").status_code == 200
    assert [r.key for r in fake_openai.requests] == OPENAI_KEYS * 2


def test_an_invalid_key_leaves_the_rotation(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], OPENAI_API_KEY=["sk-revoked-key-000000000", OPENAI_KEYS[0]])
    for _ in range(4):
        assert post(app, model="gpt-4o-mini").status_code == 200
    keys = [r.key for r in fake_openai.requests]
    assert keys.count("sk-revoked-key-000000000") == 1, "a 401 key is not tried again"
    health = runtime_of(app).gateway.upstreams["openai"].health()
    assert health["keys"][0]["invalid"] == "upstream_key_invalid"


def test_the_circuit_opens_after_n_failures_and_closes_after_a_good_probe(gateway_app, fake_gemini, fake_openai):
    app = gateway_app(GEMINI_API_KEY=GEMINI_KEYS[:1], AICHAT_CIRCUIT_FAILURES=3, AICHAT_CIRCUIT_COOLDOWN=0.5)
    fake_gemini.plan(status=503, times=3)
    for _ in range(3):
        assert post(app).json["provider"] == "openai"
    assert len(fake_gemini.requests) == 3
    gemini = runtime_of(app).gateway.upstreams["gemini"]
    assert gemini.breaker.state == "open"

    assert post(app).json["provider"] == "openai"
    assert len(fake_gemini.requests) == 3, "an open circuit sends nothing upstream"

    import time
    time.sleep(0.6)
    assert gemini.breaker.state == "half_open"
    assert post(app).json["provider"] == "gemini", "one probe goes through and succeeds"
    assert gemini.breaker.state == "closed"


def test_one_error_disables_nothing(gateway_app, fake_gemini):
    app = gateway_app(GEMINI_API_KEY=GEMINI_KEYS[:1])
    fake_gemini.plan(status=500)
    post(app)
    assert post(app).json["provider"] == "gemini"
    assert runtime_of(app).gateway.upstreams["gemini"].breaker.state == "closed"


def test_all_providers_down_is_a_clear_5xx(gateway_app, fake_gemini, fake_openai):
    app = gateway_app()
    fake_gemini.plan(status=500, times=2)
    fake_openai.plan(status=502, times=2)
    resp = post(app)
    assert resp.status_code == 502
    assert resp.json["error"]["code"] == "upstream_server_error"
    assert len(usage_rows(app)) == 4


def test_all_providers_rate_limited_is_a_429(gateway_app, fake_gemini, fake_openai):
    app = gateway_app()
    fake_gemini.plan(status=429, times=2)
    fake_openai.plan(status=429, times=2)
    resp = post(app)
    assert resp.status_code == 429 and "Retry-After" in resp.headers


def test_a_stream_fails_over_before_its_first_byte(gateway_app, fake_gemini):
    app = gateway_app()
    fake_gemini.plan(key=GEMINI_KEYS[0], status=500)
    resp = post(app, stream=True)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "event: done" in body and "event: error" not in body
    assert [r["status"] for r in usage_rows(app)] == ["error", "success"]


def test_max_attempts_bounds_the_work(gateway_app, fake_gemini, fake_openai):
    app = gateway_app(AICHAT_MAX_ATTEMPTS=2)
    fake_gemini.plan(status=500, times=2)
    fake_openai.plan(status=500, times=2)
    assert post(app).status_code == 502
    assert len(fake_gemini.requests) + len(fake_openai.requests) == 2


def test_a_stream_whose_first_chunk_is_late_fails_over(gateway_app, fake_gemini):
    """The first-token timeout: a stream that says nothing in time moves to the next key."""
    app = gateway_app(AICHAT_FIRST_TOKEN_TIMEOUT=0.5)
    fake_gemini.plan(key=GEMINI_KEYS[0], first_chunk_delay=2.0)
    body = post(app, stream=True).get_data(as_text=True)
    assert "event: done" in body
    rows = usage_rows(app)
    assert [(r["key_label"], r["error_code"]) for r in rows] == [("gemini#1", "upstream_timeout"),
                                                                 ("gemini#2", None)]


def test_the_total_timeout_ends_a_slow_stream(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], AICHAT_TOTAL_TIMEOUT=0.6)
    fake_openai.plan(text=" ".join(["slow"] * 20), chunk_interval=0.1)
    body = post(app, stream=True, model="gpt-4o-mini").get_data(as_text=True)
    assert "event: error" in body and "upstream_timeout" in body
    (row,) = usage_rows(app)
    assert row["status"] == "error" and row["error_code"] == "upstream_timeout"


def test_a_benched_key_is_re_tested_after_the_interval(gateway_app, fake_openai):
    """A key out of credit comes back once a re-test succeeds (the account was topped up)."""
    app = gateway_app(GEMINI_API_KEY=[], OPENAI_API_KEY=OPENAI_KEYS[:1],
                      AICHAT_KEY_RETEST_INTERVAL=0.3)
    fake_openai.plan(error="insufficient_quota")
    assert post(app, model="gpt-4o-mini").status_code == 502, "the only key failed"
    key = runtime_of(app).gateway.upstreams["openai"].keys[0]
    assert key.invalid_reason == "upstream_key_invalid"
    resp = post(app, model="gpt-4o-mini")
    assert resp.status_code == 503, "benched, and not yet due for a re-test"
    import time
    time.sleep(0.35)
    assert post(app, model="gpt-4o-mini").status_code == 200
    assert key.invalid_reason is None
