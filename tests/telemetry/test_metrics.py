"""Each aichat_* metric family, in one process: what a request, an attempt, a failover or a written row adds."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from aichat.gateway.attempt import AttemptRecord
from aichat.gateway.breaker import CLOSED, HALF_OPEN, OPEN
from tests.conftest import GEMINI_KEYS, usage_rows

from .scrape import Delta, Scrape, scrape
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hello there"}], "suggestions": False}
# The environment's upstreams: each named after its kind.
OPENAI = {"upstream": "openai", "provider": "openai"}
GEMINI = {"upstream": "gemini", "provider": "gemini"}


def post(client, **extra):
    """One chat call whose response is closed, as a WSGI server closes it."""
    with client.post(URL, json={**BODY, **extra}) as resp:
        resp.get_data()
        return resp


def test_a_json_chat_counts_the_request_the_attempt_and_its_tokens(gateway_app):
    """Does one JSON chat add one request, one successful attempt, its latency and exactly its tokens?"""
    app = gateway_app()
    client = app.test_client()
    before = scrape(client)
    assert post(client, model="gpt-4o-mini").status_code == 200
    (row,) = usage_rows(app, at_least=1)
    delta = Delta(before, scrape(client))
    assert delta("aichat_requests_total", endpoint="proxy.chat", status="200") == 1
    assert delta("aichat_request_duration_seconds_count", endpoint="proxy.chat") == 1
    assert delta("aichat_upstream_attempts_total", **OPENAI, outcome="success") == 1
    assert delta("aichat_upstream_latency_seconds_count", **OPENAI) == 1
    assert delta.unchanged("aichat_upstream_ttft_seconds_count", **OPENAI), "JSON calls have no first token"
    assert delta("aichat_tokens_total", **OPENAI, model="gpt-4o-mini", kind="prompt") == row["prompt_tokens"]
    assert delta("aichat_tokens_total", **OPENAI, model="gpt-4o-mini", kind="completion") == 3
    assert delta.unchanged("aichat_failovers_total", **OPENAI)


def test_a_scrape_counts_itself_and_unknown_urls_share_one_label(app):
    """Are a 404 for any URL counted under one `unmatched` series, and a 400 under its endpoint?"""
    client = app.test_client()
    before = scrape(client)
    for path in ("/nope", "/api/v1/nothing-here", "/v1/whatever?x=1"):
        with client.get(path) as resp:
            assert resp.status_code == 404
    with client.post(URL, json={"messages": []}) as resp:
        assert resp.status_code == 400
    after = scrape(client)
    delta = Delta(before, after)
    assert delta("aichat_requests_total", endpoint="unmatched", status="404") == 3
    assert delta("aichat_requests_total", endpoint="proxy.chat", status="400") == 1
    assert delta("aichat_requests_total", endpoint="metrics.scrape", status="200") == 1
    endpoints = {dict(labels)["endpoint"] for labels in after.series("aichat_requests_total")}
    assert endpoints == {"unmatched", "proxy.chat", "metrics.scrape"}


def test_a_failover_counts_the_error_its_code_and_the_failover(gateway_app, fake_gemini):
    """Does a 500 from the first key count one error with its code, one failover, then one success?"""
    app = gateway_app()
    client = app.test_client()
    fake_gemini.plan(key=GEMINI_KEYS[0], status=500)
    before = scrape(client)
    assert post(client).status_code == 200
    delta = Delta(before, scrape(client))
    assert delta("aichat_upstream_attempts_total", **GEMINI, outcome="error") == 1
    assert delta("aichat_upstream_attempts_total", **GEMINI, outcome="success") == 1
    assert delta("aichat_upstream_errors_total", **GEMINI, code="upstream_server_error") == 1
    assert delta("aichat_failovers_total", **GEMINI) == 1
    assert delta("aichat_requests_total", endpoint="proxy.chat", status="200") == 1


def test_a_stream_is_timed_whole_and_counted_in_flight_until_it_ends(gateway_app, fake_gemini):
    """Is a stream in flight while its response is open, back to 0 once closed, with one first-token time?"""
    app = gateway_app()
    client = app.test_client()
    before = scrape(client)
    resp = client.post(URL, json={**BODY, "stream": True})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert scrape(client).value("aichat_streams_in_flight") == 1
    second = client.post(URL, json={**BODY, "stream": True})
    assert scrape(client).value("aichat_streams_in_flight") == 2
    assert "event: done" in resp.get_data(as_text=True)
    resp.close()
    assert scrape(client).value("aichat_streams_in_flight") == 1
    second.close()  # the client went away before reading anything
    after = scrape(client)
    assert after.value("aichat_streams_in_flight") == 0
    usage_rows(app, at_least=2)
    delta = Delta(before, scrape(client))
    assert delta("aichat_requests_total", endpoint="proxy.chat", status="200") == 2
    assert delta("aichat_request_duration_seconds_count", endpoint="proxy.chat") == 2
    assert delta("aichat_upstream_ttft_seconds_count", **GEMINI) == 2
    assert delta("aichat_upstream_attempts_total", **GEMINI, outcome="success") == 1
    assert delta("aichat_upstream_attempts_total", **GEMINI, outcome="cancelled") == 1


def test_cost_is_counted_once_the_priced_rows_are_written(gateway_app):
    """Does the cost counter equal the cost of the rows written, in their currency, and only once?"""
    app = gateway_app()
    client = app.test_client()
    before = scrape(client)
    for model in ("gpt-4o-mini", "gemini-2.5-flash", "gpt-4o-mini"):
        assert post(client, model=model).status_code == 200
    rows = usage_rows(app, at_least=3)
    assert all(row["currency"] == "USD" and row["cost"] > 0 for row in rows)
    delta = Delta(before, scrape(client))
    assert delta("aichat_cost_total", currency="USD") == pytest.approx(float(sum(Decimal(r["cost"]) for r in rows)))
    counted = scrape(client).value("aichat_cost_total", currency="USD")
    usage_rows(app, at_least=3)  # another flush writes nothing new
    assert scrape(client).value("aichat_cost_total", currency="USD") == counted


def test_circuit_gauges_follow_a_breaker_open_half_open_and_closed(gateway_app, fake_gemini):
    """After gemini fails once with a threshold of 1, are its circuit and its key's circuit 2 (open)?"""
    app = gateway_app(AICHAT_CIRCUIT_FAILURES=1, AICHAT_CIRCUIT_COOLDOWN=60.0)
    client = app.test_client()
    start = scrape(client)
    assert start.value("aichat_circuit_state", upstream="gemini") == 0
    assert start.value("aichat_key_circuit_state", upstream="gemini", key="gemini#1") == 0
    assert start.value("aichat_key_circuit_state", upstream="openai", key="openai#2") == 0
    fake_gemini.plan(status=500)
    resp = post(client)
    assert resp.status_code == 200 and resp.json["provider"] == "openai"
    opened = scrape(client)
    assert opened.value("aichat_circuit_state", upstream="gemini") == 2
    assert opened.value("aichat_key_circuit_state", upstream="gemini", key="gemini#1") == 2
    assert opened.value("aichat_key_circuit_state", upstream="gemini", key="gemini#2") == 0
    assert opened.value("aichat_circuit_state", upstream="openai") == 0
    # The breaker's own transitions, as the pipeline drives them after the cool-down.
    breaker = runtime_of(app).gateway.upstreams["gemini"].breaker
    breaker.cooldown = 0
    assert breaker.state == HALF_OPEN and breaker.allow()
    assert scrape(client).value("aichat_circuit_state", upstream="gemini") == 1
    breaker.record_failure()
    assert breaker.state in (OPEN, HALF_OPEN)
    assert scrape(client).value("aichat_circuit_state", upstream="gemini") == 2
    breaker.record_success()
    assert breaker.state == CLOSED
    assert scrape(client).value("aichat_circuit_state", upstream="gemini") == 0


def test_two_apps_in_one_process_count_apart(gateway_app):
    """Without PROMETHEUS_MULTIPROC_DIR each app has its own registry: do two apps keep their own counts?"""
    first, second = gateway_app(), gateway_app()
    post(first.test_client())
    post(first.test_client())
    post(second.test_client())
    assert scrape(first.test_client()).value("aichat_requests_total", endpoint="proxy.chat", status="200") == 2
    assert scrape(second.test_client()).value("aichat_requests_total", endpoint="proxy.chat", status="200") == 1


def test_model_names_chosen_by_callers_cannot_grow_the_scrape_without_bound(monkeypatch):
    """Past MAX_MODEL_LABELS distinct served models, are further names counted under `other`?"""
    from aichat.telemetry import metrics as metrics_mod

    monkeypatch.setattr(metrics_mod, "MAX_MODEL_LABELS", 2)
    metrics = metrics_mod.Metrics()
    for model in ("gpt-a", "gpt-b", "gpt-c", "gpt-d", "gpt-a"):
        metrics.attempt(AttemptRecord("r", 1, "unknown", None, "v1", "openai", "openai", "openai#1", model, model,
                                      False, "success", 200, None, None, 3, 0, 2, 0, 5, "provider", 5.0, None,
                                      False, datetime.now(timezone.utc)))
    samples = Scrape(metrics.exposition().decode())
    models = {dict(labels)["model"]: value for labels, value in samples.series("aichat_tokens_total").items()
              if dict(labels)["kind"] == "prompt"}
    assert models == {"gpt-a": 6, "gpt-b": 3, "other": 6}


def test_the_scrape_helper_tells_a_missing_series_from_a_zero():
    """A series at 0 reads 0; a series not exposed (another label, a typo) fails instead of reading 0."""
    samples = Scrape('# TYPE x_total counter\nx_total{kind="a"} 0.0\nx_total{kind="b"} 2.0\n')
    assert samples.value("x_total", kind="a") == 0 and samples.has("x_total", kind="a")
    with pytest.raises(AssertionError, match="not exposed"):
        samples.value("x_total", kind="c")
    with pytest.raises(AssertionError, match="not exposed"):
        samples.value("y_total")
    later = Scrape('# TYPE x_total counter\nx_total{kind="a"} 1.0\nx_total{kind="b"} 2.0\nx_total{kind="c"} 3.0\n')
    delta = Delta(samples, later)
    assert delta("x_total", kind="a") == 1 and delta("x_total", kind="c") == 3, "a new series counts from 0"
    assert delta.unchanged("x_total", kind="b") and delta.unchanged("x_total", kind="d")
    with pytest.raises(AssertionError, match="not exposed"):
        Delta(later, samples)("x_total", kind="c")


def _record(**overrides) -> AttemptRecord:
    """An attempt's record as the gateway hands it on: a successful JSON call of the OpenAI kind."""
    fields = {"request_id": "r", "attempt": 1, "site_domain": "unknown", "caller": None, "endpoint": "v1",
              "upstream": "openai", "provider": "openai", "key_label": "openai#1", "model_requested": None,
              "model_served": "gpt-4o-mini", "stream": False, "status": "success", "http_status": 200,
              "error_code": None, "error_message": None, "prompt_tokens": 3, "cached_tokens": 0,
              "completion_tokens": 2, "reasoning_tokens": 0, "total_tokens": 5, "usage_source": "provider",
              "latency_ms": 5.0, "ttft_ms": None, "failed_over": False, "created_at": datetime.now(timezone.utc)}
    return AttemptRecord(**{**fields, **overrides})


def labelled(**labels) -> frozenset:
    """A series' labels as Scrape.series keys them."""
    return frozenset(labels.items())


def test_two_upstreams_of_one_kind_count_apart():
    """Per-attempt series carry the upstream's name beside its kind."""
    from aichat.telemetry.metrics import Metrics

    metrics = Metrics()
    metrics.attempt(_record())
    metrics.attempt(_record(upstream="deepseek", model_served="deepseek-chat", ttft_ms=40.0))
    metrics.attempt(_record(upstream="deepseek", status="error", error_code="upstream_rate_limited",
                            failed_over=True, prompt_tokens=0, completion_tokens=0))
    metrics.attempt(_record(upstream="gemini", provider="gemini", model_served="gemini-2.5-flash"))
    samples = Scrape(metrics.exposition().decode())
    deepseek = {"upstream": "deepseek", "provider": "openai"}

    assert samples.series("aichat_upstream_attempts_total") == {
        labelled(**OPENAI, outcome="success"): 1, labelled(**deepseek, outcome="success"): 1,
        labelled(**deepseek, outcome="error"): 1, labelled(**GEMINI, outcome="success"): 1}
    assert samples.series("aichat_upstream_errors_total") == {labelled(**deepseek, code="upstream_rate_limited"): 1}
    assert samples.series("aichat_failovers_total") == {labelled(**deepseek): 1}
    assert samples.series("aichat_upstream_latency_seconds_count") == {
        labelled(**OPENAI): 1, labelled(**deepseek): 2, labelled(**GEMINI): 1}
    assert samples.series("aichat_upstream_ttft_seconds_count") == {labelled(**deepseek): 1}
    assert samples.series("aichat_tokens_total") == {
        labelled(**labels, model=model, kind=kind): count
        for labels, model in ((OPENAI, "gpt-4o-mini"), (deepseek, "deepseek-chat"), (GEMINI, "gemini-2.5-flash"))
        for kind, count in (("prompt", 3), ("completion", 2))}


def test_circuits_are_shown_per_upstream_and_key():
    """Two upstreams of one kind: one circuit series each, labelled by name, and one per key."""
    from aichat.gateway.breaker import CircuitBreaker
    from aichat.gateway.upstreams import KeySlot, Upstream
    from aichat.telemetry.metrics import Metrics

    def upstream(name: str) -> Upstream:
        keys = [KeySlot(f"{name}#{i}", None, CircuitBreaker(1, 60.0, 60.0)) for i in (1, 2)]
        return Upstream(name, None, "gpt-4o-mini", keys, CircuitBreaker(1, 60.0, 60.0))

    metrics, openai, deepseek = Metrics(), upstream("openai"), upstream("deepseek")
    metrics.watch_circuits([openai, deepseek])
    deepseek.breaker.record_failure()
    deepseek.keys[1].breaker.record_failure()
    samples = Scrape(metrics.exposition().decode())
    assert samples.series("aichat_circuit_state") == {labelled(upstream="openai"): 0, labelled(upstream="deepseek"): 2}
    assert samples.series("aichat_key_circuit_state") == {
        labelled(upstream=name, key=f"{name}#{i}"): 2 if (name, i) == ("deepseek", 2) else 0
        for name in ("openai", "deepseek") for i in (1, 2)}
