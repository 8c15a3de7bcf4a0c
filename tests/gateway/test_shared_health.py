"""Circuit and key health shared through a real Redis: two registries stand for two processes."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from aichat.dependency import Dependency
from aichat.gateway.breaker import CLOSED, HALF_OPEN, OPEN
from aichat.gateway.health import HealthRegistry, KeyHealth
from aichat.gateway.shared import RedisHealth
from tests.shared_redis import REDIS_PORT, eventually, redis_prefix  # noqa: F401 - a fixture
from tests.tcpproxy import FORWARD, REFUSE, TcpProxy

FAILURES, WINDOW, COOLDOWN = 3, 60.0, 0.4


@pytest.fixture
def process(redis_prefix):
    """`process(url=…)`: a registry following the shared state, as one worker would; closed afterwards."""
    registries = []

    def start(url: str = f"redis://127.0.0.1:{REDIS_PORT}/0", dependency: Dependency | None = None,
              wait: bool = True) -> HealthRegistry:
        shared = RedisHealth(url, prefix=redis_prefix, timeout=0.5, resync=60.0, dependency=dependency)
        shared.start()
        registry = HealthRegistry(FAILURES, WINDOW, COOLDOWN, shared)
        registries.append(registry)
        assert not wait or eventually(lambda: shared.connected), "never read the shared state"
        return registry

    yield start
    for registry in registries:
        registry.close()


def test_the_same_scope_is_the_same_object_every_time(process):
    """The gateway is rebuilt when upstreams change: does health carry over, shared or not?"""
    for registry in (HealthRegistry(FAILURES, WINDOW, COOLDOWN), process()):
        assert registry.circuit("openai") is registry.circuit("openai")
        assert registry.circuit("openai/openai#1") is not registry.circuit("openai")
        assert registry.key("openai", "openai#1") is registry.key("openai", "openai#1")
        assert registry.key("openai", "openai#1") is not registry.key("openai", "openai#2")


def test_a_circuit_opened_by_one_process_is_open_in_the_other(process):
    first, second = process(), process()
    mine, theirs = first.circuit("openai"), second.circuit("openai")
    told = []
    theirs.add_listener(told.append)
    for _ in range(FAILURES):
        mine.record_failure()
    assert mine.state == OPEN
    assert eventually(lambda: theirs.state == OPEN), "the other process never heard"
    assert not theirs.allow() and not theirs.available()
    assert told == [OPEN], "a change heard from another process reaches the listeners (the metrics)"


def test_failures_in_different_processes_add_up(process):
    first, second = process(), process()
    first.circuit("gemini").record_failure()
    second.circuit("gemini").record_failure()
    assert first.circuit("gemini").state == CLOSED
    second.circuit("gemini").record_failure()
    assert second.circuit("gemini").state == OPEN, "three failures in the window, wherever they happened"
    assert eventually(lambda: first.circuit("gemini").state == OPEN)


def test_a_success_anywhere_clears_the_counted_failures(process):
    first, second = process(), process()
    for _ in range(FAILURES - 1):
        first.circuit("openai").record_failure()
    assert eventually(lambda: second.circuit("openai")._failures_pending())
    second.circuit("openai").record_success()
    first.circuit("openai").record_failure()
    assert first.circuit("openai").state == CLOSED


def test_half_open_lets_exactly_one_probe_through_across_processes(process):
    """Eight processes, eight threads each, all asking at once after the cool-down: how many probes go?"""
    registries = [process() for _ in range(8)]
    assert all(r.circuit("openai").state == CLOSED for r in registries)
    for _ in range(FAILURES):
        registries[0].circuit("openai").record_failure()
    assert eventually(lambda: all(r.circuit("openai")._opened_at for r in registries))
    time.sleep(COOLDOWN + 0.05)
    assert all(r.circuit("openai").state == HALF_OPEN for r in registries)
    start = threading.Barrier(64)
    granted = []

    def ask(registry):
        start.wait()
        granted.append(registry.circuit("openai").allow())

    threads = [threading.Thread(target=ask, args=(r,)) for r in registries for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(granted) == 64
    assert granted.count(True) == 1, f"{granted.count(True)} probes went out"
    assert eventually(lambda: all(not r.circuit("openai").available() for r in registries)), \
        "everyone knows the probe is out"


def test_the_probe_decides_for_every_process(process):
    first, second = process(), process()
    for _ in range(FAILURES):
        first.circuit("openai").record_failure()
    time.sleep(COOLDOWN + 0.05)
    assert eventually(lambda: second.circuit("openai").state == HALF_OPEN)
    assert second.circuit("openai").allow()
    second.circuit("openai").record_failure()  # the probe failed: open again, everywhere
    assert eventually(lambda: first.circuit("openai").state == OPEN and first.circuit("openai")._probe_claimed_at
                      is None)
    time.sleep(COOLDOWN + 0.05)
    assert first.circuit("openai").allow()
    first.circuit("openai").record_success()  # this probe succeeded: closed, everywhere
    assert eventually(lambda: second.circuit("openai").state == CLOSED)
    assert second.circuit("openai").allow()


def test_a_key_benched_by_one_process_is_benched_in_all_and_retested_once(process):
    registries = [process() for _ in range(4)]
    assert all(r.key("openai", "openai#1").reason is None for r in registries)
    registries[0].key("openai", "openai#1").bench("upstream_key_invalid")
    assert eventually(lambda: all(r.key("openai", "openai#1").reason == "upstream_key_invalid" for r in registries))
    assert all(r.key("openai", "openai#2").reason is None for r in registries)
    assert not any(r.key("openai", "openai#1").due_for_retest(60) for r in registries), "not yet"
    time.sleep(0.35)
    retests = [r.key("openai", "openai#1").due_for_retest(0.3) for r in registries for _ in range(3)]
    assert retests.count(True) == 1, "one re-test per interval across the fleet"
    registries[2].key("openai", "openai#1").restore()  # the re-test succeeded
    assert eventually(lambda: all(r.key("openai", "openai#1").reason is None for r in registries))


def test_the_normal_path_makes_no_redis_round_trip(process, monkeypatch):
    """Closed circuit, key in rotation: allow, success and restore answer from memory, whatever the traffic."""
    registry = process()
    breaker, key = registry.circuit("openai"), registry.key("openai", "openai#1")
    calls = []
    monkeypatch.setattr(registry.shared._redis, "execute_command",
                        lambda *args, **kwargs: calls.append(args[0]))
    monkeypatch.setattr(registry.shared._redis, "evalsha", lambda *args, **kwargs: calls.append("EVALSHA"))
    for _ in range(1000):
        assert breaker.allow() and breaker.available()
        breaker.record_success()
        key.restore()
        assert key.reason is None and not key.due_for_retest(600)
    assert calls == []


def test_redis_unreachable_falls_back_to_this_process_and_says_so_once(process, caplog):
    proxy = TcpProxy(REDIS_PORT).start(FORWARD)
    try:
        dependency = Dependency("redis")
        changes = []
        dependency.add_listener(changes.append)
        registry = process(url=f"redis://127.0.0.1:{proxy.port}/0", dependency=dependency)
        other = process()
        breaker = registry.circuit("openai")
        with caplog.at_level(logging.WARNING, logger="aichat.dependency"):
            proxy.set_mode(REFUSE)
            assert eventually(lambda: not registry.shared.connected)
            assert registry.scope == "worker_process" and not breaker.shared
            for _ in range(FAILURES):  # counted here alone, as without Redis, and never an exception
                breaker.record_failure()
            assert breaker.state == OPEN
            assert other.circuit("openai").state == CLOSED, "nothing reached the others"
            registry.key("openai", "openai#1").bench("upstream_key_invalid")
            assert registry.key("openai", "openai#1").reason == "upstream_key_invalid"
            time.sleep(1.5)  # reconnection attempts meanwhile must not say it again

            proxy.set_mode(FORWARD)
            assert eventually(lambda: registry.shared.connected)
        assert breaker.state == CLOSED, "the shared state stands again"
        assert breaker.shared and registry.scope == "shared"
        lines = [r.getMessage() for r in caplog.records if r.name == "aichat.dependency"]
        assert changes == [False, True]
        assert len(lines) == 2, lines
        assert lines[0].startswith("redis unreachable (") and "circuit and key health" in lines[0]
        assert lines[1].startswith("redis reachable again")
        assert str(proxy.port) not in " ".join(lines)
        for _ in range(FAILURES):
            breaker.record_failure()
        assert eventually(lambda: other.circuit("openai").state == OPEN), "shared again"
    finally:
        proxy.stop()


def test_without_redis_each_process_keeps_its_own():
    first, second = HealthRegistry(FAILURES, WINDOW, COOLDOWN), HealthRegistry(FAILURES, WINDOW, COOLDOWN)
    for _ in range(FAILURES):
        first.circuit("openai").record_failure()
    assert first.circuit("openai").state == OPEN and second.circuit("openai").state == CLOSED
    assert first.scope == "worker_process" and not first.circuit("openai").shared
    assert isinstance(first.key("openai", "openai#1"), KeyHealth)


def test_a_rebuilt_gateway_keeps_the_health_it_had():
    """Upstreams change while serving and the gateway is built again: do benches and circuits carry over,
    followed once by the metrics?"""
    from aichat.config import Defaults
    from aichat.gateway import build_gateway, build_health
    from aichat.gateway.specs import environment_specs
    from aichat.telemetry.metrics import Metrics

    settings = {name: getattr(Defaults, name) for name in dir(Defaults) if name.isupper()}
    settings.update(OPENAI_API_KEY=["sk-test-a", "sk-test-b"], TIKTOKEN_CACHE_DIR="")
    health, metrics = build_health(settings), Metrics()
    first = build_gateway(settings, environment_specs(settings), lambda record: None, health=health)
    metrics.watch_circuits(first.upstreams.values())
    first.upstreams["openai"].keys[0].bench("upstream_key_invalid")
    for _ in range(settings["AICHAT_CIRCUIT_FAILURES"]):
        first.upstreams["openai"].breaker.record_failure()
    # A different spec (the upstream itself is rebuilt, not taken over): health still carries over by name.
    settings["OPENAI_BASE_URL"] = "https://example.invalid/v1"
    second = build_gateway(settings, environment_specs(settings), lambda record: None, previous=first, health=health)
    assert second.upstreams["openai"] is not first.upstreams["openai"]
    metrics.watch_circuits(second.upstreams.values())
    assert second.upstreams["openai"].keys[0].invalid_reason == "upstream_key_invalid"
    assert second.upstreams["openai"].breaker.state == OPEN
    assert len(second.upstreams["openai"].breaker._listeners) == 1, "watched once"
