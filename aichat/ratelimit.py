"""Sign-in limits (Flask-Limiter) that never stop sign-in: while their Redis is unreachable they count in memory.

Flask-Limiter's in-memory fallback does the switching (RATELIMIT_IN_MEMORY_FALLBACK_ENABLED): the
first request that finds the storage unreachable moves the limits to memory, and a request now and
then (after 1, 2, 4 … 32 s) pings the storage and moves them back once it answers. This module bounds
how long a request can wait on an unreachable Redis, and tells each switch to the app's `redis`
Dependency, which says it once (a log line and the metrics) for everything that uses Redis.
"""
from __future__ import annotations

import threading

import flask_limiter
from flask import Flask
from werkzeug.exceptions import HTTPException

from .dependency import Dependency
from .runtime import runtime_of

PART = "login limits"  # how the Dependency names this use of Redis (Flask-Limiter: sign-in attempts)
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
