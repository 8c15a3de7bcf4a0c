"""`POST /api/v1/ai-proxy/chat`: the browser contract, JSON and SSE, both providers, suggestions."""
import json
import time

import pytest
import requests

from aichat.providers.base import SUGGESTIONS_MARKER
from tests.conftest import usage_rows

URL = "/api/v1/ai-proxy/chat"


def parse_sse(raw: str) -> list[tuple[str, dict]]:
    """(event, data) pairs from an SSE body."""
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


@pytest.mark.parametrize("model, provider", [("gemini-2.5-flash", "gemini"), ("gpt-4o-mini", "openai")])
def test_json_answer_has_the_documented_shape(gateway_app, model, provider):
    client = gateway_app().test_client()
    resp = client.post(URL, json={"messages": [{"role": "user", "content": "hi there"}], "model": model,
                                  "temperature": 0.7, "max_tokens": 100, "suggestions": False})
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert set(body) == {"id", "content", "model", "provider", "suggestions", "usage", "finish_reason"}
    assert body["content"] == "Echo: hi there"
    assert body["provider"] == provider and body["model"] == model
    assert body["suggestions"] == []
    assert body["usage"]["completion_tokens"] == 3
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 3
    assert body["finish_reason"] == "stop"
    assert resp.headers["X-Request-ID"] == body["id"]


def test_frontends_model_name_resolves(gateway_app, fake_gemini):
    resp = gateway_app().test_client().post(URL, json={
        "messages": [{"role": "user", "content": "hi"}], "model": "gemini-2.5-flash-latest"})
    assert resp.status_code == 200
    assert fake_gemini.requests[-1].path.startswith("/v1beta/models/gemini-2.5-flash:")


def test_suggestions_are_parsed_and_never_leak_into_content(gateway_app, fake_gemini):
    fake_gemini.plan(text=f"Paris.\n{SUGGESTIONS_MARKER}[\"How big is Paris?\", \"What to see?\"]")
    resp = gateway_app().test_client().post(URL, json={"messages": [{"role": "user", "content": "Capital?"}]})
    assert resp.json["content"] == "Paris."
    assert resp.json["suggestions"] == ["How big is Paris?", "What to see?"]
    sent = json.dumps(fake_gemini.requests[-1].json)
    assert SUGGESTIONS_MARKER in sent, "the instruction asks the model for suggestions"


def test_suggestions_can_be_switched_off(gateway_app, fake_gemini):
    app = gateway_app(AICHAT_SUGGESTIONS=False)
    app.test_client().post(URL, json={"messages": [{"role": "user", "content": "hi"}]})
    assert SUGGESTIONS_MARKER not in json.dumps(fake_gemini.requests[-1].json)


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gpt-4o-mini"])
def test_stream_events(gateway_app, model, fake_gemini, fake_openai):
    for fake in (fake_gemini, fake_openai):
        fake.plan(text=f"one two three\n{SUGGESTIONS_MARKER}[\"More?\"]")
    resp = gateway_app().test_client().post(URL, json={"messages": [{"role": "user", "content": "count"}],
                                                       "model": model, "stream": True})
    assert resp.status_code == 200
    assert resp.mimetype == "text/event-stream"
    events = parse_sse(resp.get_data(as_text=True))
    deltas = [data["content"] for event, data in events if event == "delta"]
    assert "".join(deltas) == "one two three"
    assert len(deltas) >= 3, "one event per upstream delta"
    name, done = events[-1]
    assert name == "done"
    assert set(done) == {"id", "model", "provider", "usage", "suggestions", "finish_reason"}
    assert done["suggestions"] == ["More?"] and done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] > 0


def test_deltas_reach_the_client_before_upstream_has_finished(gateway_app, fake_openai, live_server):
    """Each delta is forwarded the moment it arrives: read the first while upstream is still sending."""
    fake_openai.plan(text="alpha beta gamma delta epsilon", chunk_interval=0.4)
    base = live_server(gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"]))
    started = time.monotonic()
    with requests.post(base + URL, json={"messages": [{"role": "user", "content": "x"}], "model": "gpt-4o-mini",
                                         "stream": True, "suggestions": False}, stream=True, timeout=10) as resp:
        lines = resp.iter_lines(decode_unicode=True)
        first_delta_at = None
        for line in lines:
            if line.startswith("data:") and "alpha" in line:
                first_delta_at = time.monotonic() - started
                break
        assert first_delta_at is not None
        assert fake_openai.streams[-1].ended_at is None, "upstream was still streaming"
        rest = "\n".join(lines)
    assert "epsilon" in rest and "event: done" in rest
    # Four more chunks at 0.4 s each came after the first delta.
    assert time.monotonic() - started - first_delta_at > 1.2


def test_stream_error_after_first_byte_is_an_error_event(gateway_app, fake_gemini):
    fake_gemini.plan(text="one two three four", break_after=2)
    app = gateway_app()
    resp = app.test_client().post(URL, json={"messages": [{"role": "user", "content": "x"}], "stream": True})
    events = parse_sse(resp.get_data(as_text=True))
    assert [e for e, _ in events] == ["delta", "delta", "error"]
    error = events[-1][1]["error"]
    assert error["code"] == "upstream_unavailable" and error["request_id"] == resp.headers["X-Request-ID"]
    rows = usage_rows(app)
    assert len(rows) == 1, "no failover once bytes reached the client"
    assert rows[0]["status"] == "error" and rows[0]["completion_tokens"] > 0


def test_demo_answers_a_fresh_install_and_says_so(client):
    resp = client.post(URL, json={"messages": [{"role": "user", "content": "hello"}],
                                  "model": "gemini-2.5-flash-latest"})
    assert resp.status_code == 200
    assert resp.json["provider"] == "demo"
    assert resp.json["content"].startswith("[demo]")
    assert len(resp.json["suggestions"]) == 3


def test_demo_streams_too(client):
    resp = client.post(URL, json={"messages": [{"role": "user", "content": "你好"}], "stream": True})
    events = parse_sse(resp.get_data(as_text=True))
    assert events[-1][0] == "done" and events[-1][1]["provider"] == "demo"
    assert "演示" in "".join(d["content"] for e, d in events if e == "delta")


def test_request_id_is_taken_from_the_request(client):
    resp = client.post(URL, json={"messages": [{"role": "user", "content": "hi"}]},
                       headers={"X-Request-ID": "lb-1234"})
    assert resp.headers["X-Request-ID"] == "lb-1234" and resp.json["id"] == "lb-1234"
