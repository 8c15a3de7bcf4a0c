"""Counters in Redis, so every process and instance counts one limit once: one script per check, one per settle.

The check script reads every counter of the request, and adds to all of them only if each has room:
a request is let through or refused as one atomic step across the fleet, in one round trip. When Redis
cannot be reached the counters move to this process's memory (the fallback), said once through the app's
`redis` Dependency; Redis is tried again every RETRY_SECONDS, and counting goes back to it when it answers.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .memory import MemoryCounters
from .plan import Counter

PART = "rate limits"  # how the Dependency names this use of Redis (per address, site, key; budgets)
RETRY_SECONDS = 2.0  # while Redis is away, how often a request tries it again (paying at most one timeout)

# The numbers go as one JSON argument: redis-py encodes each argument apart, and 56 of them cost more
# CPU than the rest of the call.
# KEYS: the counters; ARGV[1]: [limit, need, amount, expires-at (epoch seconds)] per counter, flattened.
# Returns {0, value after, ...}, or {i, value} for the first counter without room (nothing is added then).
_RESERVE = """
local a = cjson.decode(ARGV[1])
local values = {0}
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local value = tonumber(redis.call('GET', KEYS[i]) or '0')
  if value + a[b + 2] > a[b + 1] then
    return {i, value}
  end
  values[i + 1] = value
end
for i = 1, #KEYS do
  local b = (i - 1) * 4
  if a[b + 3] ~= 0 then
    values[i + 1] = redis.call('INCRBY', KEYS[i], a[b + 3])
    redis.call('EXPIREAT', KEYS[i], a[b + 4])
  end
end
return values
"""

# KEYS: the counters; ARGV[1]: [delta, expires-at] per counter. A window already over is deleted by EXPIREAT.
_ADJUST = """
local a = cjson.decode(ARGV[1])
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], a[2 * i - 1])
  redis.call('EXPIREAT', KEYS[i], a[2 * i])
end
return 1
"""


class RedisCounters:
    """The fleet's counters under `prefix` in Redis, with this process's memory standing in while it is away."""

    kind = "redis"

    def __init__(self, url: str, prefix: str = "aichat:", timeout: float = 0.5, dependency=None,
                 fallback: MemoryCounters | None = None):
        # No retries: a script that ran but whose answer was lost must not count twice.
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                           retry=Retry(NoBackoff(), 0))
        self.prefix = f"{prefix}limits:"
        self.fallback = fallback or MemoryCounters()
        self._dependency = dependency
        if dependency is not None:
            dependency.uses(PART)
        self._reserve = self._redis.register_script(_RESERVE)
        self._adjust = self._redis.register_script(_ADJUST)
        self._away_until = 0.0  # while Redis is away: when to try it again
        self._away = False
        self._lost_at = 0.0  # when Redis was last found away: only a call begun after it can say it is back

    @property
    def shared(self) -> bool:
        return not self._away

    def reserve(self, counters: Sequence[Counter], now: float) -> tuple[int, list[int]]:
        if self._away:
            if time.monotonic() < self._away_until:
                return self.fallback.reserve(counters, now)
            self._away_until = time.monotonic() + RETRY_SECONDS  # this request tries; the others keep to memory
        args = []
        for counter in counters:
            args += (counter.limit, counter.need, counter.amount, counter.window.reset + 1)
        started = time.monotonic()
        try:
            reply = self._reserve(keys=[self.prefix + counter.key for counter in counters], args=[json.dumps(args)])
        except redis.RedisError as exc:
            self._lost(exc)
            return self.fallback.reserve(counters, now)
        self._found(started)
        refused = int(reply[0]) - 1
        if refused >= 0:
            return refused, [0] * refused + [int(reply[1])]
        return refused, [int(value) for value in reply[1:]]

    def adjust(self, changes: Iterable[tuple[str, int, int]], now: float) -> None:
        changes = list(changes)
        if not changes:
            return
        if self._away:
            self.fallback.adjust(changes, now)
            return
        args = []
        for _, delta, expires in changes:
            args += (delta, expires)
        try:
            self._adjust(keys=[self.prefix + key for key, _, _ in changes], args=[json.dumps(args)])
        except redis.RedisError as exc:
            self._lost(exc)
            self.fallback.adjust(changes, now)

    def read(self, keys: Sequence[str], now: float) -> list[int]:
        if not keys:
            return []
        if not self._away:
            try:
                return [int(value or 0) for value in self._redis.mget([self.prefix + key for key in keys])]
            except redis.RedisError as exc:
                self._lost(exc)
        return self.fallback.read(keys, now)

    def close(self) -> None:
        self._redis.close()

    def _lost(self, exc: BaseException) -> None:
        self._lost_at = time.monotonic()
        self._away_until = self._lost_at + RETRY_SECONDS
        if not self._away:
            self._away = True
            if self._dependency is not None:
                self._dependency.report(PART, False, type(exc).__name__)

    def _found(self, started: float) -> None:
        # A call that was already on its way when another found Redis gone (on a connection not yet cut) says
        # nothing about Redis now: only one begun after that may bring the counters back.
        if self._away and started > self._lost_at:
            self._away = False
            if self._dependency is not None:
                self._dependency.report(PART, True)
