"""Limits through Redis: counted there while it answers, in this process's memory while it is away (never a 500),
and back in Redis when it returns; each change said once through the app's `redis` Dependency."""
from __future__ import annotations

import logging

import pytest
import redis

from aichat.limits.shared import RETRY_SECONDS
from aichat.runtime import runtime_of
from tests.fakes import closed_port
from tests.limits.conftest import add_key, set_site_limits, v1
from tests.shared_redis import REDIS_PORT, REDIS_URL, eventually, redis_prefix  # noqa: F401 - a fixture
from tests.tcpproxy import FORWARD, REFUSE, TcpProxy


def redis_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aichat.dependency"]


def counted_in_redis(prefix: str, name: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(int(client.get(key) or 0) for key in client.scan_iter(f"{prefix}limits:*:{name}:*"))
    finally:
        client.close()


def test_a_redis_that_is_down_leaves_limits_counting_in_memory(gateway_app, fake_openai, caplog):
    with caplog.at_level(logging.INFO):
        app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0,
                          REDIS_URL=f"redis://:pw-secret@127.0.0.1:{closed_port()}/0")
        set_site_limits(app, rpm=2)
        key, client = add_key(app), app.test_client()
        assert [v1(client, key).status_code for _ in range(3)] == [200, 200, 429]
    assert len(fake_openai.requests) == 2
    lines = [line for line in redis_lines(caplog) if "rate limits" in line]
    assert len(lines) == 1 and lines[0].startswith("redis unreachable (") and "pw-secret" not in lines[0], lines
    assert runtime_of(app).quota.view(runtime_of(app).directory.local_site)[0]["used"] == 2


@pytest.fixture
def redis_proxy(redis_prefix):
    proxy = TcpProxy(REDIS_PORT).start(FORWARD)
    yield proxy
    proxy.stop()


def test_limits_go_to_memory_when_redis_is_cut_and_back_when_it_returns(gateway_app, redis_prefix, redis_proxy,
                                                                       caplog):
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0,
                      REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}/0", AICHAT_REDIS_PREFIX=redis_prefix)
    set_site_limits(app, rpm=1000)
    key, client = add_key(app), app.test_client()
    assert [v1(client, key).status_code for _ in range(3)] == [200] * 3
    assert counted_in_redis(redis_prefix, "rpm") == 3
    store = runtime_of(app).quota.store
    with caplog.at_level(logging.INFO):
        redis_proxy.set_mode(REFUSE)
        assert [v1(client, key).status_code for _ in range(5)] == [200] * 5
        assert not store.shared and "rate limits" in runtime_of(app).redis.down_parts
        redis_proxy.set_mode(FORWARD)
        assert eventually(lambda: v1(client, key).status_code == 200 and store.shared, within=RETRY_SECONDS * 5)
    assert counted_in_redis(redis_prefix, "rpm") == 4, "counting went back to Redis"
    lines = redis_lines(caplog)
    assert len(lines) == 2 and lines[0].startswith("redis unreachable") and lines[1].startswith("redis reachable"), lines
