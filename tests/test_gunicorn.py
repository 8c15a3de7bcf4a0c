"""The production way: gunicorn with gevent workers, as a separate process, against a fake upstream."""
import runpy
import signal
import threading

import pytest
import requests

from tests.conftest import ROOT, usage_rows
from tests.usage.test_recording import client_leaves_after

BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False, "model": "gpt-4o-mini"}


@pytest.fixture
def gunicorn(serve_gunicorn, request):
    """One gunicorn server against the fake OpenAI; parametrize indirectly with a number of workers."""
    server = serve_gunicorn(workers=getattr(request, "param", 1), AICHAT_GRACEFUL_TIMEOUT="20")
    return server.base, server.proc, server.reader


def test_streams_and_json_through_gunicorn(gunicorn):
    base, _, reader = gunicorn
    resp = requests.post(base + "/api/v1/ai-proxy/chat", json=BODY, timeout=10)
    assert resp.status_code == 200 and resp.json()["content"] == "Echo: hi"
    with requests.post(base + "/api/v1/ai-proxy/chat", json={**BODY, "stream": True}, stream=True, timeout=10) as r:
        assert "event: done" in r.text
    assert len(usage_rows(reader, at_least=2)) == 2


def test_client_disconnect_closes_upstream_under_gevent(gunicorn, fake_openai):
    base, _, reader = gunicorn
    fake_openai.plan(text=" ".join(["token"] * 200), chunk_interval=0.05)
    client_leaves_after(base, 3, {**BODY, "stream": True})
    assert fake_openai.wait_for_disconnect(timeout=3), "upstream kept generating for nobody"
    rows = usage_rows(reader, at_least=1)
    assert [r["status"] for r in rows] == ["cancelled"]


def test_sigterm_lets_streams_in_flight_finish_and_writes_their_rows(gunicorn, fake_openai):
    base, proc, reader = gunicorn
    fake_openai.default = fake_openai.default.replace(text="one two three four five six", chunk_interval=0.25)
    results = []

    def stream():
        with requests.post(base + "/api/v1/ai-proxy/chat", json={**BODY, "stream": True}, stream=True,
                           timeout=20) as resp:
            results.append(resp.text)

    threads = [threading.Thread(target=stream) for _ in range(10)]
    for t in threads:
        t.start()
    assert fake_openai.wait_until(lambda: fake_openai.open_streams >= 10, timeout=10)
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert proc.wait(20) == 0
    assert len(results) == 10 and all("event: done" in text for text in results)
    rows = usage_rows(reader, at_least=10)
    assert len(rows) == 10 and all(r["status"] == "success" for r in rows)


@pytest.mark.parametrize("gunicorn", [2], indirect=True)
def test_sigterm_with_json_calls_and_streams_in_flight_logs_every_finished_request(gunicorn, fake_openai):
    """Two workers, 8 JSON calls waiting on a slow upstream and 8 streams mid-way when SIGTERM arrives:
    every request that finished has exactly one row, with its tokens."""
    base, proc, reader = gunicorn
    fake_openai.default = fake_openai.default.replace(text="alpha beta gamma delta", delay=0.8, chunk_interval=0.2)
    finished = []

    def call(i):
        body = {**BODY, "stream": i % 2 == 0}
        with requests.post(base + "/api/v1/ai-proxy/chat", json=body, stream=True, timeout=20,
                           headers={"X-Request-ID": f"term-{i}"}) as resp:
            text = resp.text
        if resp.status_code == 200 and ("event: done" in text or '"content"' in text):
            finished.append(f"term-{i}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    assert fake_openai.wait_until(lambda: fake_openai.total_requests >= 16, timeout=10)
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(20)
    assert proc.wait(20) == 0
    assert len(finished) == 16, "every request in flight finished within the graceful timeout"
    rows = usage_rows(reader, at_least=16)
    assert sorted(r["request_id"] for r in rows) == sorted(finished)
    assert all(r["status"] == "success" and r["completion_tokens"] > 0 for r in rows)


def test_a_bad_number_in_the_environment_stops_the_start_naming_the_setting(monkeypatch):
    monkeypatch.setenv("AICHAT_WORKERS", "two")
    with pytest.raises(SystemExit, match="AICHAT_WORKERS must be a whole number, got 'two'"):
        runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setenv("AICHAT_WORKERS", "")  # an empty line in the environment file keeps the default
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 2
