"""Every attempt is recorded once, off the client's path; a stream once however it ends."""
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import ALL_SECRETS, CLIENT_KEY, GEMINI_KEYS, usage_rows
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def test_a_json_call_is_one_row_with_tokens_and_timing(gateway_app):
    app = gateway_app()
    app.test_client().post(URL, json={**BODY, "model": "gemini-2.5-flash"},
                           headers={"Origin": "http://localhost"})
    (row,) = usage_rows(app)
    assert row["provider"] == "gemini" and row["key_label"] in ("gemini#1", "gemini#2")
    assert row["upstream"] == "gemini"  # the environment's upstream is named after its kind
    assert row["model_requested"] == "gemini-2.5-flash" and row["model_served"] == "gemini-2.5-flash"
    assert row["status"] == "success" and row["http_status"] == 200 and row["stream"] is False
    assert row["completion_tokens"] == 2 and row["usage_source"] == "provider"
    assert row["latency_ms"] > 0 and row["endpoint"] == "ai-proxy"


def test_a_completed_stream_is_one_row_with_upstream_usage(gateway_app):
    app = gateway_app()
    app.test_client().post(URL, json={**BODY, "stream": True}).get_data()
    (row,) = usage_rows(app)
    assert row["stream"] is True and row["status"] == "success"
    assert row["usage_source"] == "provider" and row["completion_tokens"] == 2
    assert row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


def test_a_stream_without_a_usage_chunk_is_estimated(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    fake_openai.plan(text="one two three four five six seven eight", usage=False)
    app.test_client().post(URL, json={**BODY, "stream": True, "model": "gpt-4o-mini"}).get_data()
    (row,) = usage_rows(app)
    assert row["usage_source"] == "estimated" and row["completion_tokens"] > 0


def test_usage_on_a_chunk_with_choices_is_billed_once(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    fake_openai.plan(usage_on_choice_chunk=True)
    app.test_client().post(URL, json={**BODY, "stream": True, "model": "gpt-4o-mini"}).get_data()
    (row,) = usage_rows(app)
    assert row["usage_source"] == "provider" and row["completion_tokens"] == 2


def test_an_upstream_break_bills_only_what_was_delivered(gateway_app, fake_openai):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    fake_openai.plan(text=" ".join(["word"] * 40), break_after=4)
    body = app.test_client().post(URL, json={**BODY, "stream": True, "model": "gpt-4o-mini"}).get_data(as_text=True)
    assert "event: error" in body
    (row,) = usage_rows(app)
    assert row["status"] == "error" and row["usage_source"] == "estimated"
    # Four words delivered, about five characters each: a couple of tokens, never the error text.
    assert 1 <= row["completion_tokens"] <= 8


def client_leaves_after(base: str, deltas: int, body: dict) -> None:
    """Open a stream over a raw socket, read `deltas` delta events, then hang up."""
    payload = json.dumps(body).encode()
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST " + URL.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    seen = b""
    while seen.count(b"event: delta") < deltas:
        seen += sock.recv(4096)
    sock.close()


def test_client_disconnect_closes_upstream_and_is_recorded_once(gateway_app, fake_openai, live_server):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    base = live_server(app)
    fake_openai.plan(text=" ".join(["token"] * 200), chunk_interval=0.05)
    client_leaves_after(base, 3, {**BODY, "stream": True, "model": "gpt-4o-mini"})
    assert fake_openai.wait_for_disconnect(timeout=3), "upstream kept generating for nobody"
    assert fake_openai.streams[-1].chunks_sent < 100
    rows = usage_rows(app, at_least=1)
    assert len(rows) == 1
    assert rows[0]["status"] == "cancelled" and rows[0]["usage_source"] == "estimated"
    assert rows[0]["completion_tokens"] < 100


def test_32_concurrent_requests_give_exactly_one_row_per_attempt(gateway_app, fake_gemini, live_server):
    app = gateway_app(AICHAT_CIRCUIT_FAILURES=100)
    base = live_server(app)
    # Eight requests meet a failing first key and fail over to the second.
    fake_gemini.plan(key=GEMINI_KEYS[0], status=500, times=8)

    def call(i):
        body = {**BODY, "stream": i % 2 == 0}
        resp = requests.post(base + URL, json=body, timeout=10, headers={"X-Request-ID": f"req-{i}"})
        return resp.status_code, resp.text

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(32)))
    assert all(status == 200 for status, _ in results)
    rows = usage_rows(app, at_least=40)
    assert fake_gemini.total_requests == 40
    assert len(rows) == 40
    assert {r["request_id"] for r in rows} == {f"req-{i}" for i in range(32)}
    by_request = {}
    for r in rows:
        by_request.setdefault(r["request_id"], []).append(r["attempt"])
    assert all(sorted(a) == list(range(1, len(a) + 1)) for a in by_request.values())
    assert sum(r["failed_over"] for r in rows) == 8


def test_no_secret_in_responses_logs_or_rows(gateway_app, fake_openai, fake_gemini, caplog):
    """Provider keys and client keys appear nowhere: responses, log lines, usage rows."""
    caplog.set_level("DEBUG")
    app = gateway_app(OPENAI_API_KEY=["sk-bad-key-that-upstream-rejects-0000"] + ALL_SECRETS[:1])
    client = app.test_client()
    fake_gemini.plan(status=401, times=2)  # Gemini keys rejected: their messages must not echo keys
    responses = [
        client.post(URL, json=BODY),
        client.post(URL, json={**BODY, "stream": True}),
        client.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {CLIENT_KEY}"}),
        client.get("/v1/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}),
        client.post("/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer wrong"}),
    ]
    rows = usage_rows(app)
    haystack = "\n".join(
        [r.get_data(as_text=True) + str(dict(r.headers)) for r in responses]
        + [caplog.text] + [json.dumps(row, default=str) for row in rows])
    for secret in ALL_SECRETS + ["sk-bad-key-that-upstream-rejects-0000"]:
        assert secret not in haystack
    assert any(r["error_code"] == "upstream_key_invalid" for r in rows)


def test_the_answer_does_not_wait_for_the_database(gateway_app):
    """The row is written after the client has its answer: a stalled writer delays no response."""
    app = gateway_app()
    recorder = runtime_of(app).recorder
    gate = threading.Event()
    original = recorder._write_batch

    def slow_write(batch, **retry):
        gate.wait(5)
        original(batch, **retry)

    recorder._write_batch = slow_write
    resp = app.test_client().post(URL, json=BODY)
    assert resp.status_code == 200
    assert recorder.pending == 1, "the row is still queued while the client already has its answer"
    gate.set()
    assert len(usage_rows(app)) == 1


def test_rows_survive_a_database_hiccup(gateway_app):
    app = gateway_app()
    recorder = runtime_of(app).recorder
    original = recorder._write_batch
    failures = []

    def flaky(batch, **retry):
        if len(failures) < 2:
            failures.append(1)
            raise RuntimeError("database went away")
        original(batch, **retry)

    recorder._write_batch = flaky
    app.test_client().post(URL, json=BODY)
    assert len(usage_rows(app)) == 1 and len(failures) == 2
