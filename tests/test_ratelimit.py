"""Limits counted in memory: no timer per count, expired counters still go, and the check before every request
runs only when something is counted there."""
from __future__ import annotations

import time

from aichat.extensions import limiter
from tests.conftest import CLIENT_KEY

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def test_counting_starts_no_timer_and_expired_counters_are_swept(make_app):
    """Does counting in memory leave the storage's timer alone (limits' own storage starts one after each count
    made while none runs: a greenlet every 10 ms under load), while counters past their window still go?"""
    client = make_app(AICHAT_RATE_LIMIT="100/second").test_client()
    storage = limiter.storage
    timer = storage.timer
    for _ in range(5):
        assert client.post("/api/v1/ai-proxy/chat", json=CHAT, headers=AUTH).status_code == 200
        time.sleep(0.03)  # longer than the original's timer: each count would start a new one
    assert storage.timer is timer
    assert sum(storage.storage.values()) == 5
    time.sleep(1.1)  # the window (one second) and the sweep interval have passed
    # Another counter's count sweeps: the caller's expired counter goes without being read.
    storage.incr("another", 60)
    assert dict(storage.storage) == {"another": 1}


def test_the_limit_still_answers_429_in_memory(make_app):
    client = make_app(AICHAT_RATE_LIMIT="2/minute").test_client()
    codes = [client.post("/api/v1/ai-proxy/chat", json=CHAT, headers=AUTH).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_the_check_before_every_request_runs_only_for_default_limits(make_app):
    """Without default limits nothing is counted before a view; with RATELIMIT_DEFAULT the same request is."""
    make_app().test_client().get("/v1/models", headers=AUTH)
    assert sum(limiter.storage.storage.values()) == 0
    client = make_app(RATELIMIT_DEFAULT="5/minute").test_client()
    client.get("/v1/models", headers=AUTH)
    assert sum(limiter.storage.storage.values()) == 1
