"""Rate limits that never stop traffic: when their Redis is unreachable they count in this process's memory.

Flask-Limiter's in-memory fallback does the switching (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED): the
first request that finds the storage unreachable moves the limits to memory, and a request now and
then (after 1, 2, 4 … 32 s) pings the storage and moves them back once it answers. This module bounds
how long a request can wait on an unreachable Redis, and tells each switch to the app's `redis`
Dependency, which says it once (a log line and the metrics) for everything that uses Redis.
"""
from __future__ import annotations

import threading
import time

import flask_limiter
from flask import Flask
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES
from werkzeug.exceptions import HTTPException

from .dependency import Dependency
from .runtime import runtime_of

PART = "rate limits"  # how the Dependency names this use of Redis
REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
# Flask-Limiter's own notices of the switches; the Dependency says them instead, once per change.
_SWITCH_NOTICES = ("Rate limit storage unreachable", "Rate limit storage recovered")


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter that tells the app's `redis` Dependency when its limits move to memory and back."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logger.addFilter(lambda record: not record.getMessage().startswith(_SWITCH_NOTICES))
        self._telling = threading.Lock()

    def init_app(self, app: Flask) -> None:
        # One limiter serves every app built in a process (tests build many): each app counts under its own
        # RATELIMIT_KEY_PREFIX (Flask-Limiter keeps the first one it saw), and its storage starts out in use,
        # not on the fallback an earlier app's storage was left on.
        self._key_prefix = ""
        super().init_app(app)
        self._storage_dead = False
        # Counting in memory (the default, and the fallback while Redis is away): swept, not timed.
        strategy = STRATEGIES[self._strategy]
        if type(self._storage) is MemoryStorage:
            self._storage = SweptMemoryStorage()
            self._limiter = strategy(self._storage)
        if type(getattr(self, "_fallback_storage", None)) is MemoryStorage:
            self._fallback_storage = SweptMemoryStorage()
            self._fallback_limiter = strategy(self._fallback_storage)

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        # Every limit check passes here (before the request, and in route decorators); the switch to the
        # fallback and back happens inside it.
        if in_middleware and not self._limits_before_views():
            return
        was_dead = self._storage_dead
        try:
            super()._check_request_limit(callable_name, in_middleware)
        except Exception as exc:
            # Flask-Limiter falls back only in the request that switches: requests asking the storage at
            # that moment (under load, many) would fail with its error. They ask the fallback instead.
            if isinstance(exc, HTTPException) or not (self._in_memory_fallback_enabled and self._storage_dead):
                raise
            self.context.seen_limits.clear()
            super()._check_request_limit(callable_name, in_middleware)
        finally:
            if self._storage_dead != was_dead:
                self._tell()

    def _limits_before_views(self) -> bool:
        """Is there anything for the check before every request to count? Only default, application, blueprint,
        meta and fallback limits are counted there; a route's own limits are counted by its decorator."""
        # Without them (aichat's own limits are all decorators) that check found nothing to count on every
        # request, at a cost of 60-70 µs of CPU each.
        manager = self.limit_manager
        return bool(manager._default_limits or manager._application_limits or manager._blueprint_limits
                    or self._meta_limits or self._in_memory_fallback)

    def _tell(self) -> None:
        dependency = runtime_of().redis
        if dependency is not None:
            with self._telling:  # read afresh in turn, so a stale switch is never told after a newer one
                dependency.report(PART, not self._storage_dead)


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory counters, with expired ones swept at most once a second by the count that finds it due.

    The original starts a timer thread to sweep after any count made while none is running: under gevent a
    greenlet every 10 ms or so under load, and the request that starts it waits for it to start (a switch).
    A burst of requests started hundreds at once, each holding its own stack (about 4 MB of a worker at
    1,000 streams). A count never depends on the sweep: reading a key drops it when expired.
    """

    SWEEP_INTERVAL = 1.0

    def __init__(self, uri: str | None = None, **options):
        super().__init__(uri, **options)
        self._next_sweep = 0.0

    # Overrides MemoryStorage's private __schedule_expiry (name-mangled), which every count calls.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_INTERVAL
            self._MemoryStorage__expire_events()


def init_rate_limit_storage(app: Flask) -> None:
    """The app's `redis` Dependency when Redis is configured, and a Redis limit storage that waits briefly."""
    uri = app.config["RATELIMIT_STORAGE_URI"]
    on_redis = uri.partition("://")[0] in REDIS_SCHEMES
    if not (on_redis or app.config["REDIS_URL"]):
        return
    dependency = runtime_of(app).redis = Dependency("redis")
    from .telemetry import metrics_of

    metrics_of(app).watch_dependency(dependency)
    if not on_redis:
        return
    dependency.uses(PART)
    # Imported only here: redis-py costs a worker about 8 MB, and an install without Redis never needs it.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeout = app.config["AICHAT_REDIS_TIMEOUT"]
    # No retries: an unreachable Redis costs the request that finds it out one timeout, then none (the
    # fallback is used); a dead pooled connection is replaced by redis-py before use anyway.
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": timeout, "socket_timeout": timeout,
                                               "retry": Retry(NoBackoff(), 0),
                                               **(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})}
