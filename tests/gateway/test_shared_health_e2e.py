"""Shared health end to end: two gunicorn servers with two gevent workers each against one Redis.

The fake upstream counts the requests each key gets: a key benched by one worker is never tried by the
other three, a circuit opened by failures anywhere is open everywhere, and when it half-opens exactly
one probe goes out across all four workers.
"""
from __future__ import annotations

import threading
import time

import requests

from tests.conftest import OPENAI_KEYS
from tests.shared_redis import REDIS_URL, eventually, redis_prefix  # noqa: F401 - a fixture

CHAT = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
PROVIDERS = "/api/v1/ai-monitoring/providers"
COOLDOWN = 3


def chat(server, timeout: float = 30) -> int:
    # A new connection each time, so the requests spread over both workers.
    return requests.post(server.base + CHAT, json=BODY, headers={"Connection": "close"}, timeout=timeout).status_code


def every_worker_sees(servers, token: str, predicate, within: float = 20.0) -> bool:
    """Ask the servers (each answer names the worker's pid) until every worker's last view satisfies `predicate`."""
    pids = set().union(*(server.workers() for server in servers))
    views: dict[int, dict] = {}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for server in servers:
            body = requests.get(server.base + PROVIDERS, timeout=10, headers={
                "Authorization": f"Bearer {token}", "Connection": "close"}).json()
            live = next(row["live"] for row in body["providers"] if row["provider"] == "openai")
            views[live["pid"]] = live
        if set(views) >= pids and all(predicate(views[pid]) for pid in pids):
            return True
    return False


def key_of(live: dict, label: str) -> dict:
    return next(key for key in live["keys"] if key["label"] == label)


def start_four_workers(serve_gunicorn, make_admin, prefix: str, **settings):
    """Two servers of two workers, sharing health through Redis under `prefix`; an admin token to look."""
    shared = {"REDIS_URL": REDIS_URL, "AICHAT_REDIS_PREFIX": prefix,
              "AICHAT_ROLLUP_INTERVAL": 0, **settings}
    servers = [serve_gunicorn(workers=2, **shared) for _ in range(2)]
    token = make_admin(servers[0].reader)[1]
    assert every_worker_sees(servers, token, lambda live: live["scope"] == "shared"), "not all four share health"
    return servers, token


def test_a_key_benched_by_one_worker_is_never_tried_by_the_others(serve_gunicorn, fake_openai, make_admin,
                                                                  redis_prefix):
    servers, token = start_four_workers(serve_gunicorn, make_admin, redis_prefix)
    revoked, good = OPENAI_KEYS
    fake_openai.plan(key=revoked, times=1000, error="invalid_api_key")

    def tried(key: str) -> int:
        return sum(request.key == key for request in fake_openai.requests)

    assert chat(servers[0]) == 200, "failed over to the good key"
    assert tried(revoked) == 1
    assert every_worker_sees(servers, token, lambda live: key_of(live, "openai#1")["invalid"] == "upstream_key_invalid")
    statuses = [chat(servers[i % 2]) for i in range(40)]
    assert statuses == [200] * 40
    assert tried(revoked) == 1, "another worker tried the benched key"
    assert tried(good) == 41


def test_a_circuit_opens_everywhere_and_half_opens_with_one_probe_across_all_workers(serve_gunicorn, fake_openai,
                                                                                     make_admin, redis_prefix):
    servers, token = start_four_workers(
        serve_gunicorn, make_admin, redis_prefix, OPENAI_API_KEY=OPENAI_KEYS[0], AICHAT_MAX_ATTEMPTS=1,
        AICHAT_CIRCUIT_FAILURES=3, AICHAT_CIRCUIT_COOLDOWN=COOLDOWN)
    fake_openai.plan(times=3, error="server_error")
    assert [chat(servers[i % 2]) for i in range(3)] == [502] * 3
    assert len(fake_openai.requests) == 3
    assert every_worker_sees(servers, token, lambda live: live["circuit"] == "open")
    assert [chat(servers[i % 2]) for i in range(20)] == [503] * 20, "open for every worker"
    assert len(fake_openai.requests) == 3

    assert every_worker_sees(servers, token, lambda live: live["circuit"] == "half_open", within=COOLDOWN + 20)
    fake_openai.plan(times=1, delay=5.0)  # the probe succeeds, slowly: everyone else asks meanwhile
    start, results = threading.Barrier(16), []

    def ask(server):
        start.wait()
        results.append(chat(server))

    threads = [threading.Thread(target=ask, args=(servers[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    # Fifteen have their answer and the probe has reached upstream (where it waits): all sixteen are decided.
    assert eventually(lambda: len(results) >= 15 and len(fake_openai.requests) >= 4, within=20)
    assert len(fake_openai.requests) == 4, f"{len(fake_openai.requests) - 3} probes went out"
    assert results[:15] == [503] * 15
    for thread in threads:
        thread.join(20)
    assert results[15] == 200, "the probe"
    assert every_worker_sees(servers, token, lambda live: live["circuit"] == "closed")
    assert [chat(servers[i % 2]) for i in range(8)] == [200] * 8
