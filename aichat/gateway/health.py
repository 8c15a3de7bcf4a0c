"""Where the gateway gets circuit and key health: one object per scope for as long as the app lives.

The gateway is rebuilt when its upstreams change; health must carry over, so breakers and benched
keys live here, not in the gateway, and `circuit(scope)` / `key(upstream, label)` return the same
object every time. Without Redis each object is this process's own; with a `RedisHealth` they are
mirrors of the state every worker and instance shares (see shared.py).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from .breaker import CircuitBreaker


class KeyHealth:
    """Whether an upstream key is benched (401/403, out of credit) and when it may be re-tested."""

    shared = False

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.reason: str | None = None  # set on 401/403/out of credit; cleared when a re-test succeeds
        self.since = 0.0  # when it was benched, or last re-tested

    def bench(self, reason: str) -> None:
        """Take the key out of rotation until a re-test succeeds."""
        self.reason = reason
        self.since = self._clock()

    def due_for_retest(self, interval: float) -> bool:
        """A benched key gets one request again after `interval` (credit topped up, key re-enabled)."""
        if self.reason is None or self._clock() - self.since < interval:
            return False
        self.since = self._clock()  # one probe per interval
        return True

    def restore(self) -> None:
        self.reason = None


class HealthRegistry:
    """Every circuit and key health the gateway uses, kept by scope; shared through Redis when `shared` is set."""

    def __init__(self, failures: int, window: float, cooldown: float, shared=None):
        self.failures, self.window, self.cooldown = failures, window, cooldown
        self.shared = shared  # a RedisHealth, or None: each process keeps its own
        self._circuits: dict[str, CircuitBreaker] = {}
        self._keys: dict[tuple[str, str], KeyHealth] = {}
        self._lock = threading.Lock()

    def circuit(self, scope: str) -> CircuitBreaker:
        """The breaker of an upstream (`name`) or of one of its keys (`name/label`); the same one every time."""
        found = self._circuits.get(scope)
        if found is None:
            with self._lock:
                found = self._circuits.get(scope)
                if found is None:
                    found = self._circuits[scope] = (
                        self.shared.circuit(scope, self.failures, self.window, self.cooldown) if self.shared
                        else CircuitBreaker(self.failures, self.window, self.cooldown))
        return found

    def key(self, upstream: str, label: str) -> KeyHealth:
        """Whether a key is benched; the same object every time for the same upstream and label."""
        found = self._keys.get((upstream, label))
        if found is None:
            with self._lock:
                found = self._keys.get((upstream, label))
                if found is None:
                    found = self._keys[(upstream, label)] = (
                        self.shared.key(upstream, label) if self.shared else KeyHealth())
        return found

    @property
    def scope(self) -> str:
        """Whose state the objects show now: `shared` (through Redis) or this `worker_process`'s own."""
        return "shared" if self.shared is not None and self.shared.connected else "worker_process"

    def close(self) -> None:
        """Stop following the shared state (tests build many apps in one process)."""
        if self.shared is not None:
            self.shared.close()


def build_health(settings: Mapping, dependency=None, share: bool = True) -> HealthRegistry:
    """The registry the settings ask for: shared through REDIS_URL when it is set (and `share`), else per process."""
    shared = None
    if share and settings.get("REDIS_URL"):
        from .shared import RedisHealth

        shared = RedisHealth(settings["REDIS_URL"], prefix=settings["AICHAT_REDIS_PREFIX"],
                             timeout=settings["AICHAT_REDIS_TIMEOUT"], resync=settings["AICHAT_HEALTH_RESYNC"],
                             dependency=dependency)
        shared.start()
    return HealthRegistry(settings["AICHAT_CIRCUIT_FAILURES"], settings["AICHAT_CIRCUIT_WINDOW"],
                          settings["AICHAT_CIRCUIT_COOLDOWN"], shared)
