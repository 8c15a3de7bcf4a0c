"""Circuit and key health shared by every worker and instance through Redis, at no cost per normal request.

Each process keeps a mirror of the shared state: its breakers and key healths answer from memory,
as without Redis. What changes the state goes to Redis, in one script each (atomic across the
fleet): a failure in the window, opening, the half-open probe's claim, closing, benching a key,
its re-test's claim and its return. Each script publishes the new state of its scope on one
channel; every process applies what it hears to its mirror, and reads everything again every
AICHAT_HEALTH_RESYNC seconds and after reconnecting, in case a message was missed. A state carries
a fleet-wide version, so an older message never replaces a newer state.

So a request in the normal (closed) state makes no Redis round trip; a failure makes one. When
Redis cannot be reached, each process carries on with its own state (as without Redis), says so
once through the `Dependency` it was given, and takes the shared state back when Redis returns.
Times are wall-clock milliseconds, so instances should keep their clocks in sync (NTP).
"""
from __future__ import annotations

import json
import logging
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from .health import KeyHealth

log = logging.getLogger(__name__)

PART = "circuit and key health"  # how the Dependency names this use of Redis
RECONNECT_SECONDS = 1.0  # how often a process without Redis tries it again

# A circuit: a hash {opened (ms, 0 while closed), probe (ms until which the half-open probe is out), v}
# and a sorted set of the failures in the window. A key: a hash {reason ('' while in rotation), since, v}.
# Every state told is [kind, scope, version, ...]: ['c', scope, v, opened, probe, failures] or
# ['k', scope, v, reason, since]; a failure count of -1 means "not read".

_FAILURE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('INCR', KEYS[3])
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened') or '0')
local failures = 0
if opened > 0 then
  opened = now -- a failed probe, or a straggler: open again for a full cool-down
else
  redis.call('ZADD', KEYS[2], now, v)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  failures = redis.call('ZCARD', KEYS[2])
  if failures >= tonumber(ARGV[3]) then
    opened, failures = now, 0
    redis.call('DEL', KEYS[2])
  else
    redis.call('PEXPIRE', KEYS[2], window)
  end
end
redis.call('HSET', KEYS[1], 'opened', opened, 'probe', 0, 'v', v)
local state = cjson.encode({'c', ARGV[5], v, opened, 0, failures})
redis.call('PUBLISH', ARGV[4], state)
return state
"""

_CLAIM_PROBE = """
local now, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'opened', 'probe', 'v')
local opened, probe, v = tonumber(h[1] or '0'), tonumber(h[2] or '0'), tonumber(h[3] or '0')
if opened == 0 or now - opened < cooldown or now < probe then
  return {cjson.encode({'c', ARGV[4], v, opened, probe, -1}), 0}
end
v = redis.call('INCR', KEYS[2])
probe = now + cooldown
redis.call('HSET', KEYS[1], 'probe', probe, 'v', v)
local state = cjson.encode({'c', ARGV[4], v, opened, probe, 0})
redis.call('PUBLISH', ARGV[3], state)
return {state, 1}
"""

_CLOSE = """
local v = redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'opened', 0, 'probe', 0, 'v', v)
local state = cjson.encode({'c', ARGV[2], v, 0, 0, 0})
redis.call('PUBLISH', ARGV[1], state)
return state
"""

_BENCH = """
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'reason', ARGV[2], 'since', ARGV[1], 'v', v)
local state = cjson.encode({'k', ARGV[4], v, ARGV[2], tonumber(ARGV[1])})
redis.call('PUBLISH', ARGV[3], state)
return state
"""

_CLAIM_RETEST = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'reason', 'since', 'v')
local reason, since, v = h[1] or '', tonumber(h[2] or '0'), tonumber(h[3] or '0')
if reason == '' then
  return {cjson.encode({'k', ARGV[4], v, '', 0}), 1} -- back in rotation meanwhile: it may go
end
if now - since < interval then
  return {cjson.encode({'k', ARGV[4], v, reason, since}), 0}
end
v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'since', now, 'v', v)
local state = cjson.encode({'k', ARGV[4], v, reason, now})
redis.call('PUBLISH', ARGV[3], state)
return {state, 1}
"""

_RESTORE = """
local v = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'reason', '', 'since', 0, 'v', v)
local state = cjson.encode({'k', ARGV[2], v, '', 0})
redis.call('PUBLISH', ARGV[1], state)
return state
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


class RedisHealth:
    """The shared state's keys, scripts and channel, and the thread that keeps this process's mirrors current."""

    def __init__(self, url: str, prefix: str = "aichat:", timeout: float = 0.5, resync: float = 5.0,
                 dependency=None):
        # No retries: a script that ran but whose answer was lost must not count its failure twice, and a
        # Redis that is away must cost a request one timeout at most (then this process stops asking).
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                           retry=Retry(NoBackoff(), 0), decode_responses=True)
        self.prefix = f"{prefix}health:"
        self.channel = f"{self.prefix}changes"
        self._version = f"{self.prefix}version"
        self.timeout = timeout
        self.resync_interval = resync
        self._dependency = dependency
        if dependency is not None:
            dependency.uses(PART)
        self._scripts = {name: self._redis.register_script(source) for name, source in (
            ("failure", _FAILURE), ("claim_probe", _CLAIM_PROBE), ("close", _CLOSE), ("bench", _BENCH),
            ("claim_retest", _CLAIM_RETEST), ("restore", _RESTORE))}
        self._mirrors: dict[tuple[str, str], SharedCircuitBreaker | SharedKeyHealth] = {}
        self.connected = False  # until the first read of the shared state; meanwhile each mirror is local
        self._unread = False  # a mirror was made since the last read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the mirrors ---------------------------------------------------------

    def circuit(self, scope: str, failures: int, window: float, cooldown: float) -> SharedCircuitBreaker:
        breaker = SharedCircuitBreaker(self, scope, failures, window, cooldown)
        self._mirrors[("c", scope)] = breaker
        self._unread = True  # its state is read at the thread's next turn
        return breaker

    def key(self, upstream: str, label: str) -> SharedKeyHealth:
        health = SharedKeyHealth(self, f"{upstream}/{label}")
        self._mirrors[("k", health.scope)] = health
        self._unread = True
        return health

    def _circuit_keys(self, scope: str) -> list[str]:
        return [f"{self.prefix}circuit:{scope}", f"{self.prefix}circuit:{scope}:failures", self._version]

    def _key_keys(self, scope: str) -> list[str]:
        return [f"{self.prefix}key:{scope}", self._version]

    # --- changes, each one script (None: Redis failed, the caller keeps to its own state) ----------

    def record_failure(self, breaker: SharedCircuitBreaker) -> list | None:
        return self._run("failure", self._circuit_keys(breaker.scope),
                         [_now_ms(), int(breaker.window * 1000), breaker.threshold, self.channel, breaker.scope])

    def claim_probe(self, breaker: SharedCircuitBreaker) -> tuple[list, bool] | None:
        keys = self._circuit_keys(breaker.scope)
        return self._run_claim("claim_probe", [keys[0], keys[2]],
                               [_now_ms(), int(breaker.cooldown * 1000), self.channel, breaker.scope])

    def close_circuit(self, breaker: SharedCircuitBreaker) -> list | None:
        return self._run("close", self._circuit_keys(breaker.scope), [self.channel, breaker.scope])

    def bench(self, health: SharedKeyHealth, reason: str) -> list | None:
        return self._run("bench", self._key_keys(health.scope), [_now_ms(), reason, self.channel, health.scope])

    def claim_retest(self, health: SharedKeyHealth, interval: float) -> tuple[list, bool] | None:
        return self._run_claim("claim_retest", self._key_keys(health.scope),
                               [_now_ms(), int(interval * 1000), self.channel, health.scope])

    def restore(self, health: SharedKeyHealth) -> list | None:
        return self._run("restore", self._key_keys(health.scope), [self.channel, health.scope])

    def _run(self, script: str, keys: list, args: list) -> list | None:
        try:
            return json.loads(self._scripts[script](keys=keys, args=args))
        except redis.RedisError as exc:
            self._lost(exc)
            return None

    def _run_claim(self, script: str, keys: list, args: list) -> tuple[list, bool] | None:
        try:
            state, won = self._scripts[script](keys=keys, args=args)
        except redis.RedisError as exc:
            self._lost(exc)
            return None
        return json.loads(state), bool(won)

    # --- following the shared state ------------------------------------------

    def start(self) -> None:
        """Follow the shared state from a daemon thread (a greenlet under gevent) in this process."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="aichat-shared-health", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop following; the thread ends at its next turn (within half a second) and closes its connection."""
        self._stop.set()

    def _follow(self) -> None:
        """Subscribe, read everything, then apply each change as it is told; again after any loss."""
        while not self._stop.is_set():
            pubsub = self._redis.pubsub()
            try:
                self._subscribe(pubsub)
                self._resync()
                self._found()
                next_resync = time.monotonic() + self.resync_interval
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=min(0.5, self.resync_interval))
                    if message is not None and message["type"] == "message":
                        self._heard(message["data"])
                    # A write that failed marked Redis lost while this connection lived on: read afresh.
                    if not self.connected or self._unread or time.monotonic() >= next_resync:
                        self._resync()
                        self._found()
                        next_resync = time.monotonic() + self.resync_interval
            except (redis.RedisError, OSError) as exc:
                if not self._stop.is_set():
                    self._lost(exc)
            finally:
                pubsub.close()
            self._stop.wait(RECONNECT_SECONDS)
        self._redis.close()

    def _subscribe(self, pubsub) -> None:
        """Subscribe and wait for Redis to confirm, so nothing told after the read that follows is missed."""
        pubsub.subscribe(self.channel)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=self.timeout)
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError("no answer to SUBSCRIBE")

    def _resync(self) -> None:
        """Read the state of every mirror in one round trip and take it as it is."""
        self._unread = False
        mirrors = list(self._mirrors.values())
        if not mirrors:
            return
        now = _now_ms()
        pipe = self._redis.pipeline(transaction=False)
        for mirror in mirrors:
            if isinstance(mirror, SharedCircuitBreaker):
                hash_key, failures_key, _ = self._circuit_keys(mirror.scope)
                pipe.hmget(hash_key, "opened", "probe", "v")
                pipe.zcount(failures_key, now - int(mirror.window * 1000), "+inf")
            else:
                pipe.hmget(self._key_keys(mirror.scope)[0], "reason", "since", "v")
        replies = iter(pipe.execute())
        for mirror in mirrors:
            if isinstance(mirror, SharedCircuitBreaker):
                opened, probe, version = (int(value or 0) for value in next(replies))
                mirror.take(["c", mirror.scope, version, opened, probe, next(replies)], newer_only=False)
            else:
                reason, since, version = next(replies)
                mirror.take(["k", mirror.scope, int(version or 0), reason or "", int(since or 0)], newer_only=False)

    def _heard(self, data: str) -> None:
        try:
            state = json.loads(data)
            mirror = self._mirrors.get((state[0], state[1]))
        except (ValueError, IndexError, TypeError):
            log.warning("ignored a malformed shared health message")
            return
        if mirror is not None:
            mirror.take(state)

    def _found(self) -> None:
        if self._dependency is not None:
            self._dependency.report(PART, True)
        self.connected = True

    def _lost(self, exc: BaseException) -> None:
        self.connected = False
        if self._dependency is not None:
            self._dependency.report(PART, False, type(exc).__name__)


class SharedCircuitBreaker(CircuitBreaker):
    """A mirror of one circuit's shared state; answers from memory, tells Redis what changes it."""

    def __init__(self, hub: RedisHealth, scope: str, failures: int, window: float, cooldown: float):
        super().__init__(failures, window, cooldown, clock=time.time)
        self.scope = scope
        self._hub = hub
        self._version = 0
        self._shared_failures = 0  # failures in the fleet's window, as last told
        self._last_failure = 0.0
        self._told: tuple[str, float | None] = (CLOSED, None)  # what the listeners last heard

    @property
    def shared(self) -> bool:
        return self._hub.connected

    def allow(self) -> bool:
        if self._opened_at is None:
            return True  # closed: the normal case, answered from memory
        if not self._hub.connected:
            return super().allow()
        with self._lock:
            if self.state != HALF_OPEN or self._probe_in_flight():
                return False
            self._probe_claimed_at = self._clock()  # the others here wait while the fleet is asked
        reply = self._hub.claim_probe(self)
        if reply is None:  # Redis failed just now: the claim stays with this process, as without Redis
            with self._lock:
                self._changed(HALF_OPEN)
            return True
        state, won = reply
        self.take(state)
        return won or not state[3]  # the probe is ours, or another's probe has closed it meanwhile

    def record_success(self) -> None:
        if self._opened_at is None and not self._failures_pending():
            super().record_success()  # the normal case: nothing to tell the fleet
            return
        state = self._hub.close_circuit(self) if self._hub.connected else None
        if state is None:
            super().record_success()
        else:
            self.take(state)

    def record_failure(self) -> None:
        state = self._hub.record_failure(self) if self._hub.connected else None
        if state is None:
            super().record_failure()
        else:
            self.take(state)

    def take(self, state: list, newer_only: bool = True) -> None:
        """Apply a state told by Redis; an older one than the mirror has is ignored unless read afresh."""
        _, _, version, opened, probe, failures = state
        with self._lock:
            if newer_only and version < self._version:
                return
            self._version = version
            self._opened_at = opened / 1000 if opened else None
            self._probe_claimed_at = probe / 1000 - self.cooldown if opened and probe else None
            if failures >= 0:
                self._shared_failures = failures
                self._last_failure = self._clock() if failures else 0.0
            if not opened:
                self._failures.clear()  # counted while Redis was away; the fleet's count stands now
            told = (CLOSED if self._opened_at is None else HALF_OPEN if self._probe_in_flight() else OPEN,
                    self._opened_at)
            if told != self._told:
                self._changed(told[0])

    def _changed(self, state: str) -> None:
        self._told = (state, self._opened_at)
        super()._changed(state)

    def _failures_pending(self) -> bool:
        return self._shared_failures > 0 and self._clock() - self._last_failure < self.window


class SharedKeyHealth(KeyHealth):
    """A mirror of one key's shared bench; in rotation is answered from memory."""

    def __init__(self, hub: RedisHealth, scope: str):
        super().__init__(clock=time.time)
        self.scope = scope
        self._hub = hub
        self._version = 0
        self._lock = threading.Lock()

    @property
    def shared(self) -> bool:
        return self._hub.connected

    def bench(self, reason: str) -> None:
        state = self._hub.bench(self, reason) if self._hub.connected else None
        if state is None:
            super().bench(reason)
        else:
            self.take(state)

    def due_for_retest(self, interval: float) -> bool:
        if self.reason is None or self._clock() - self.since < interval:
            return False
        reply = self._hub.claim_retest(self, interval) if self._hub.connected else None
        if reply is None:
            return super().due_for_retest(interval)
        state, won = reply
        self.take(state)
        return won

    def restore(self) -> None:
        if self.reason is None:
            return  # the normal case: a key in rotation answered
        state = self._hub.restore(self) if self._hub.connected else None
        if state is None:
            super().restore()
        else:
            self.take(state)

    def take(self, state: list, newer_only: bool = True) -> None:
        """Apply a state told by Redis; an older one than the mirror has is ignored unless read afresh."""
        _, _, version, reason, since = state
        with self._lock:
            if newer_only and version < self._version:
                return
            self._version = version
            self.reason = reason or None
            self.since = since / 1000
