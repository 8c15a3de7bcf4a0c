"""Redis is optional and never stops traffic: down at start, or cut and restored under load, chat answers 200,
readiness says degraded, one log line and the metrics say each change, and Redis is used again by itself."""
from __future__ import annotations

import logging
import random
import threading

import pytest
import redis
import requests

from tests.fakes import closed_port
from tests.shared_redis import REDIS_PORT, REDIS_URL, eventually, redis_prefix  # noqa: F401 - a fixture
from tests.tcpproxy import FORWARD, REFUSE, TcpProxy
from tests.telemetry.scrape import scrape
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def _lines(caplog) -> list[str]:
    """What was logged about Redis coming and going: aichat's lines and any of Flask-Limiter's own."""
    return [record.getMessage() for record in caplog.records if record.name in ("aichat.dependency", "flask-limiter")]


def test_a_redis_that_is_down_never_answers_500(make_app, caplog):
    """REDIS_URL pointing at nothing: was every chat request a 500 (ConnectionError out of Flask-Limiter)?"""
    from tests.conftest import CLIENT_KEY

    port = closed_port()
    with caplog.at_level(logging.INFO):
        app = make_app(RATELIMIT_STORAGE_URI="", REDIS_URL=f"redis://:pw-secret@127.0.0.1:{port}/0",
                       AICHAT_READY_CACHE_SECONDS=0)
        client = app.test_client()
        for _ in range(3):
            assert client.post(URL, json=BODY).status_code == 200
            assert client.post("/v1/chat/completions", json={**BODY, "model": "demo"},
                               headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code == 200
        ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"]["rate_limit_storage"]["status"] == "degraded"
    lines = _lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("redis unreachable (") and "rate limits" in lines[0], lines
    assert "pw-secret" not in lines[0] and str(port) not in lines[0]
    metrics = scrape(client)
    assert metrics.value("aichat_dependency_up", dependency="redis") == 0
    assert metrics.value("aichat_dependency_changes_total", dependency="redis", state="down") == 1
    assert ("aichat_dependency_changes_total", frozenset({("dependency", "redis"), ("state", "up")})) \
        not in metrics.samples


def test_a_limit_still_holds_per_process_while_redis_is_down(make_app):
    port = closed_port()
    client = make_app(RATELIMIT_STORAGE_URI="", REDIS_URL=f"redis://127.0.0.1:{port}/0",
                      AICHAT_RATE_LIMIT="2/minute").test_client()
    assert [client.post(URL, json=BODY).status_code for _ in range(3)] == [200, 200, 429]


def _limit_hits(prefix: str, address: str) -> int:
    """The count of the limit per address Redis keeps for `address` under `prefix` (0 when it keeps none)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sum(int(client.get(key) or 0) for key in client.scan_iter(f"{prefix}limits:gw:ip:{address}:*"))
    finally:
        client.close()


@pytest.fixture
def redis_proxy(redis_prefix):
    """A loopback proxy in front of the local Redis, to cut it and restore it."""
    proxy = TcpProxy(REDIS_PORT).start(FORWARD)
    yield proxy
    proxy.stop()


def test_redis_cut_and_restored_under_load(make_app, live_server, redis_prefix, redis_proxy, caplog):
    """Chat answers 200 throughout; each change is said once; limits and health are back on Redis after."""
    proxy = redis_proxy
    app = make_app(RATELIMIT_STORAGE_URI="", REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
                   RATELIMIT_KEY_PREFIX=redis_prefix, AICHAT_REDIS_PREFIX=redis_prefix,
                   AICHAT_READY_CACHE_SECONDS=0, AICHAT_TRUSTED_PROXIES=1, AICHAT_RATE_LIMIT="1000/minute")
    dependency, health = runtime_of(app).redis, runtime_of(app).health
    base = live_server(app)
    statuses: list[int] = []
    stop = threading.Event()

    def load():
        with requests.Session() as session:
            while not stop.is_set():
                # A new address each time: the load never meets the limit, only the outage.
                address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
                statuses.append(session.post(base + URL, json=BODY, headers={"X-Forwarded-For": address},
                                             timeout=10).status_code)

    clients = [threading.Thread(target=load) for _ in range(4)]
    try:
        assert eventually(lambda: health.scope == "shared")
        with caplog.at_level(logging.INFO):
            for thread in clients:
                thread.start()
            assert eventually(lambda: len(statuses) > 20)
            proxy.set_mode(REFUSE)
            assert eventually(lambda: "rate limits" in dependency.down_parts and health.scope == "worker_process")
            during = len(statuses)
            assert eventually(lambda: len(statuses) > during + 50)
            degraded = requests.get(base + "/health/ready", timeout=10)
            proxy.set_mode(FORWARD)
            # The limiter looks again after 1, 2, 4 … s (on a request), shared health within a second.
            assert eventually(lambda: dependency.up, within=40), dependency.down_parts
            after = len(statuses)
            assert eventually(lambda: len(statuses) > after + 20)
    finally:
        stop.set()
        for thread in clients:
            thread.join(15)

    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert degraded.status_code == 200
    assert {name: check["status"] for name, check in degraded.json()["checks"].items()} == {
        "database": "ok", "rate_limit_storage": "degraded", "providers": "ok", "lifecycle": "ok"}
    lines = _lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("redis unreachable (") and lines[1].startswith("redis reachable again")
    metrics = scrape(app.test_client())
    assert metrics.value("aichat_dependency_up", dependency="redis") == 1
    assert metrics.value("aichat_dependency_changes_total", dependency="redis", state="down") == 1
    assert metrics.value("aichat_dependency_changes_total", dependency="redis", state="up") == 1
    ready = app.test_client().get("/health/ready").json["checks"]["rate_limit_storage"]
    assert ready == {"status": "ok", "reason": "reachable (redis)"}
    # The limits count in Redis again: each request from now on adds one there.
    client = app.test_client()
    for _ in range(5):
        assert client.post(URL, json=BODY, headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 200
    assert _limit_hits(redis_prefix, "192.0.2.7") == 5


def test_two_servers_keep_answering_through_an_outage_and_share_one_limit_again(serve_gunicorn, redis_prefix,
                                                                                  redis_proxy):
    """Two gunicorn servers on one Redis (through the proxy): cut it under load and restore it. Every answer is
    a 200, each server says each change once, and then one address's limit is counted across both again."""
    proxy = redis_proxy
    settings = {"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0", "AICHAT_REDIS_PREFIX": redis_prefix,
                "AICHAT_RATE_LIMIT": "3/hour", "AICHAT_TRUSTED_PROXIES": 1, "AICHAT_ROLLUP_INTERVAL": 0}
    servers = [serve_gunicorn(workers=1, **settings) for _ in range(2)]
    statuses: list[int] = []
    stop = threading.Event()

    def load(server):
        while not stop.is_set():
            # A new address each time: the load meets the outage, never the limit.
            address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
            statuses.append(requests.post(server.base + URL, json=BODY, timeout=10, headers={
                "X-Forwarded-For": address, "Connection": "close"}).status_code)

    def redis_up(server) -> float:
        return scrape(server.base).value("aichat_dependency_up", dependency="redis")

    assert eventually(lambda: all(redis_up(server) == 1 for server in servers))
    clients = [threading.Thread(target=load, args=(servers[i % 2],)) for i in range(4)]
    try:
        for thread in clients:
            thread.start()
        assert eventually(lambda: len(statuses) > 20)
        proxy.set_mode(REFUSE)
        assert eventually(lambda: all(redis_up(server) == 0 for server in servers))
        during = len(statuses)
        assert eventually(lambda: len(statuses) > during + 50)
        proxy.set_mode(FORWARD)
        # Under load the limiter finds Redis again within 32 s (it looks after 1, 2, 4 … s).
        assert eventually(lambda: all(redis_up(server) == 1 for server in servers), within=45)
    finally:
        stop.set()
        for thread in clients:
            thread.join(15)

    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    for server in servers:
        lines = [line for line in server.output().splitlines() if '"aichat.dependency"' in line]
        assert len(lines) == 2, lines
        assert "redis unreachable (" in lines[0] and "redis reachable again" in lines[1]
        assert "Rate limit storage" not in server.output()
        counts = scrape(server.base)
        assert counts.value("aichat_dependency_changes_total", dependency="redis", state="down") == 1
        assert counts.value("aichat_dependency_changes_total", dependency="redis", state="up") == 1
    # One budget of 3 an hour for this address, whichever server answers (counted under the test's prefix).
    address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
    answers = [requests.post(servers[i % 2].base + URL, json=BODY, timeout=10, headers={
        "X-Forwarded-For": address, "Connection": "close"}).status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]
    assert _limit_hits(redis_prefix, address) == 3


def test_readiness_reads_the_shared_health_and_says_when_it_cannot(gateway_app, redis_prefix):
    shared = gateway_app(REDIS_URL=REDIS_URL, AICHAT_REDIS_PREFIX=redis_prefix, AICHAT_READY_CACHE_SECONDS=0)
    assert eventually(lambda: runtime_of(shared).health.scope == "shared")
    alone = gateway_app(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0", AICHAT_READY_CACHE_SECONDS=0)
    second = None
    try:
        assert eventually(lambda: not runtime_of(alone).redis.up)
        checks = shared.test_client().get("/health/ready").json["checks"]
        assert checks["providers"] == {"status": "ok", "reason": "2 of 2 usable (health shared by all processes)"}
        response = alone.test_client().get("/health/ready")
        assert response.status_code == 200
        assert response.json["checks"]["providers"] == {
            "status": "degraded", "reason": "2 of 2 usable in this process: shared health unreachable"}
        # What one process opens, the other's readiness sees.
        second = gateway_app(REDIS_URL=REDIS_URL, AICHAT_REDIS_PREFIX=redis_prefix, AICHAT_READY_CACHE_SECONDS=0)
        assert eventually(lambda: runtime_of(second).health.scope == "shared")
        for name, upstream in runtime_of(second).gateway.upstreams.items():
            for _ in range(upstream.breaker.threshold):
                upstream.breaker.record_failure()
        assert eventually(lambda: shared.test_client().get("/health/ready").status_code == 503)
    finally:
        for app in (shared, alone, second):
            if app is not None:
                runtime_of(app).health.close()
