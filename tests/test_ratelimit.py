"""Limits: the check before every request runs only when something is counted there."""
from __future__ import annotations

from aichat.extensions import limiter
from tests.conftest import CLIENT_KEY

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


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
