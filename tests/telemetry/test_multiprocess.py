"""/metrics under gunicorn with two workers: exact values across workers, and after a worker dies."""
import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from tests.conftest import ALL_SECRETS, CLIENT_KEY, OPENAI_KEYS, usage_rows

from .scrape import Scrape, scrape

URL = "/api/v1/ai-proxy/chat"
MARKER = "gunicorn-marker-51c2e"
OPENAI = {"upstream": "openai", "provider": "openai"}  # the environment's upstream, named after its kind
BODY = {"messages": [{"role": "user", "content": f"hi {MARKER}"}], "suggestions": False, "model": "gpt-4o-mini"}


def worker_pids(directory) -> set[int]:
    """Workers that have counted something: each writes its own counter_<pid>.db."""
    return {int(m.group(1)) for name in os.listdir(directory) if (m := re.match(r"counter_(\d+)\.db$", name))}


def spread_over_both_workers(base: str, directory) -> int:
    """Send /health on fresh connections until both workers have answered; how many were sent."""
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _ in range(50):
            list(pool.map(lambda _: requests.get(base + "/health", timeout=5), range(8)))
            sent += 8
            if len(worker_pids(directory)) >= 2:
                return sent
    pytest.fail("one worker answered every request")


def test_exact_values_across_two_workers_and_after_one_dies(serve_gunicorn, fake_openai, tmp_path):
    """6 JSON chats (one failing over), 4 streams, a 404 and a 400 over two workers: the scrape adds
    them up exactly; a stream in flight counts once; killing a worker keeps its counts."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left by an earlier run")
    server = serve_gunicorn(workers=2, PROMETHEUS_MULTIPROC_DIR=directory)
    assert not (directory / "counter_999999.db").exists(), "the directory is emptied at start"
    ready_polls = scrape(server.base).value("aichat_requests_total", endpoint="health.live", status="200")
    health = ready_polls + spread_over_both_workers(server.base, directory)

    fake_openai.plan(key=OPENAI_KEYS[0], status=500)
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}

    def chat(i):
        stream = i >= 6
        with requests.post(server.base + URL, json={**BODY, "stream": stream}, headers=headers, timeout=10) as r:
            return r.status_code, r.text

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(chat, range(10)))
    assert [status for status, _ in results] == [200] * 10
    assert all("event: done" in text for _, text in results[6:])
    assert requests.get(server.base + "/no/such/page", timeout=5).status_code == 404
    assert requests.post(server.base + URL, json={"messages": []}, timeout=5).status_code == 400
    rows = usage_rows(server.reader, at_least=11)
    assert len(rows) == 11

    # The cost counter moves when a worker's writer has committed the rows: wait for it, bounded.
    expected_cost = float(sum(Decimal(r["cost"]) for r in rows))
    deadline = time.monotonic() + 10
    while not ((values := scrape(server.base)).has("aichat_cost_total", currency="USD")
               and values.value("aichat_cost_total", currency="USD") >= expected_cost * 0.999):
        assert time.monotonic() < deadline, "cost was not counted"
        time.sleep(0.1)
    assert values.value("aichat_requests_total", endpoint="health.live", status="200") == health
    assert values.value("aichat_requests_total", endpoint="proxy.chat", status="200") == 10
    assert values.value("aichat_requests_total", endpoint="proxy.chat", status="400") == 1
    assert values.value("aichat_requests_total", endpoint="unmatched", status="404") == 1
    assert values.value("aichat_request_duration_seconds_count", endpoint="proxy.chat") == 11
    assert values.value("aichat_upstream_attempts_total", **OPENAI, outcome="success") == 10
    assert values.value("aichat_upstream_attempts_total", **OPENAI, outcome="error") == 1
    assert values.value("aichat_upstream_errors_total", **OPENAI, code="upstream_server_error") == 1
    assert values.value("aichat_failovers_total", **OPENAI) == 1
    assert values.value("aichat_upstream_latency_seconds_count", **OPENAI) == 11
    assert values.value("aichat_upstream_ttft_seconds_count", **OPENAI) == 4
    for kind in ("prompt", "completion"):
        assert values.value("aichat_tokens_total", **OPENAI, model="gpt-4o-mini", kind=kind) == sum(
            r[f"{kind}_tokens"] for r in rows)
    assert values.value("aichat_cost_total", currency="USD") == pytest.approx(expected_cost)
    assert values.value("aichat_streams_in_flight") == 0
    assert values.value("aichat_circuit_state", upstream="openai") == 0
    assert values.value("aichat_key_circuit_state", upstream="openai", key="openai#1") == 0

    # A stream held open counts once, whichever worker holds it and whichever answers the scrape.
    fake_openai.plan(text="slow " * 40, chunk_interval=0.1)
    with requests.post(server.base + URL, json={**BODY, "stream": True}, stream=True, timeout=20) as held:
        next(held.iter_lines())
        assert all(scrape(server.base).value("aichat_streams_in_flight") == 1 for _ in range(4))
    assert fake_openai.wait_for_disconnect(timeout=5) or fake_openai.wait_for_streams_ended(timeout=5)

    # A worker killed outright: its live gauges go, its counters stay.
    before = scrape(server.base)
    victim = sorted(worker_pids(directory))[0]
    assert (directory / f"gauge_livesum_{victim}.db").exists()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while (directory / f"gauge_livesum_{victim}.db").exists():
        assert time.monotonic() < deadline, "the dead worker was not marked dead"
        time.sleep(0.1)
    assert (directory / f"counter_{victim}.db").exists()
    after = _scrape_when_up(server.base)
    for name, labels in [("aichat_requests_total", {"endpoint": "proxy.chat", "status": "200"}),
                         ("aichat_failovers_total", OPENAI),
                         ("aichat_upstream_attempts_total", {**OPENAI, "outcome": "success"})]:
        assert after.value(name, **labels) == before.value(name, **labels)
    assert after.value("aichat_streams_in_flight") == 0

    # The server's output: JSON access lines, and no key, token or message text anywhere.
    output = server.output()
    access = [json.loads(line) for line in output.splitlines() if '"logger":"aichat.access"' in line]
    assert sum(line["endpoint"] == "proxy.chat" for line in access) == 12
    assert all(line["request_id"] for line in access)
    for secret in ALL_SECRETS + [MARKER]:
        assert secret not in output


def _scrape_when_up(base: str) -> Scrape:
    """Scrape once the replacement worker is in; a connection may land on nobody while it starts."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return scrape(base)
        except requests.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_without_a_directory_the_server_makes_one_and_counts_across_workers(serve_gunicorn):
    """PROMETHEUS_MULTIPROC_DIR unset: gunicorn.conf.py gives the workers a private directory, so every
    scrape, whichever worker answers it, has all 24 requests."""
    server = serve_gunicorn(workers=2)
    ready_polls = scrape(server.base).value("aichat_requests_total", endpoint="health.live", status="200")
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: requests.get(server.base + "/health", timeout=5).status_code,
                            range(24))) == {200}
    counts = {scrape(server.base).value("aichat_requests_total", endpoint="health.live", status="200")
              for _ in range(6)}
    assert counts == {ready_polls + 24}
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0


def test_the_private_directory_is_removed_at_exit_even_after_a_reload(serve_gunicorn, tmp_path):
    """A reload (HUP, as systemctl reload sends) runs gunicorn.conf.py again: is the directory the start
    made still removed when the server stops?"""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    server = serve_gunicorn(workers=1, TMPDIR=scratch)
    made = list(scratch.glob("aichat-metrics-*"))
    assert len(made) == 1 and made[0].is_dir()
    before = server.workers()
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while not (server.workers() and server.workers().isdisjoint(before)):
        assert time.monotonic() < deadline, "no new worker after HUP"
        time.sleep(0.1)
    assert requests.get(server.base + "/health", timeout=5).status_code == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0
    assert list(scratch.glob("aichat-metrics-*")) == []
