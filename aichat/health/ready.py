"""Readiness for load balancers: can this process serve chat now?

Balancers poll every second, several at once, so the answer is cached for
AICHAT_READY_CACHE_SECONDS and at most one evaluation runs per process at a time; callers that
arrive meanwhile answer from the last result (or wait for the first one). Checks that do I/O
run in a thread of their own (a greenlet under gevent) for at most AICHAT_READY_TIMEOUT; one
still hanging after that is reported as failed and waited on again next time rather than
started twice, so a blackholed database never collects a pile of hung connections.

Reasons are public: they never name a host, URL, password or provider, and carry at most an
exception's class name.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from aichat.runtime import runtime_of

OK, FAIL = "ok", "fail"
# Works, with less than it should: Redis unreachable, so limits and health are each process's own.
# Still ready: the process serves chat as well as without Redis, and a balancer that took every
# instance out because their shared Redis went away would turn a lost convenience into an outage.
DEGRADED = "degraded"
_created = threading.Lock()


@dataclass(frozen=True, slots=True)
class Result:
    status: str  # ok | degraded | fail
    reason: str

    def as_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason}


def readiness(app: Flask) -> Readiness:
    """The app's readiness, built on first use (inside an app context)."""
    found = runtime_of(app).readiness
    if found is None:
        with _created:
            found = runtime_of(app).readiness
            if found is None:
                found = runtime_of(app).readiness = Readiness(app)
    return found


class Job:
    """One run of a check in its own thread; its result once it finishes."""

    def __init__(self, check: Callable[[], Result]):
        self.done = threading.Event()
        self.result: Result | None = None
        threading.Thread(target=self._run, args=(check,), daemon=True, name="ready-check").start()

    def _run(self, check: Callable[[], Result]) -> None:
        try:
            self.result = check()
        except Exception as exc:  # noqa: BLE001 - a check that breaks has failed, whatever broke
            self.result = Result(FAIL, f"check failed ({type(exc).__name__})")
        self.done.set()


class Readiness:
    """The checks of one app, the cached answer, and the checks still running."""

    def __init__(self, app: Flask):
        self.cache_seconds = float(app.config["AICHAT_READY_CACHE_SECONDS"])
        self.timeout = float(app.config["AICHAT_READY_TIMEOUT"])
        self.lifecycle = runtime_of(app).lifecycle
        self.app = app
        self.health = runtime_of(app).health
        self.io_checks: dict[str, Callable[[], Result]] = {
            "database": DatabaseCheck(app),
            "rate_limit_storage": storage_check(app),
        }
        self._jobs: dict[str, Job] = {}  # the latest run of each I/O check, finished or not
        self._answer: tuple[dict, bool] | None = None
        self._expires = 0.0
        self._evaluating: threading.Event | None = None
        self._lock = threading.Lock()

    def answer(self) -> tuple[dict, bool]:
        """(body, ready): cached, except that a process that is stopping says so at once."""
        if self.lifecycle.draining:
            return self._evaluate(io=False)
        if self._answer is not None and time.monotonic() < self._expires:
            return self._answer
        with self._lock:
            in_flight = self._evaluating
            if in_flight is None:
                self._evaluating = threading.Event()
        if in_flight is not None:
            # Someone else is evaluating: never start a second evaluation.
            if self._answer is None:
                in_flight.wait(self.timeout + 1.0)
            return self._answer or self._not_evaluated()
        try:
            answer = self._evaluate(io=True)
            self._answer, self._expires = answer, time.monotonic() + self.cache_seconds
        finally:
            with self._lock:
                done, self._evaluating = self._evaluating, None
            done.set()
        return answer

    def _evaluate(self, io: bool) -> tuple[dict, bool]:
        if io:
            checks = self._run_io_checks()
        else:  # stopping: the last I/O results, if any, are still worth showing
            last = self._answer[0]["checks"] if self._answer else {}
            checks = {name: Result(**last[name]) for name in self.io_checks if name in last}
        checks["providers"] = providers_check(runtime_of(self.app).gateway.upstreams, self.health)
        checks["lifecycle"] = Result(FAIL, "stopping") if self.lifecycle.draining else Result(OK, "serving")
        ready = all(result.status != FAIL for result in checks.values())
        body = {"status": "ready" if ready else "not_ready",
                "checks": {name: result.as_dict() for name, result in checks.items()}}
        return body, ready

    def _run_io_checks(self) -> dict[str, Result]:
        """Start each check (or keep waiting on its run that still hangs), all within one timeout."""
        for name, check in self.io_checks.items():
            job = self._jobs.get(name)
            if job is None or job.done.is_set():
                self._jobs[name] = Job(check)
        deadline = time.monotonic() + self.timeout
        results = {}
        for name in self.io_checks:
            job = self._jobs[name]
            if job.done.wait(max(0.0, deadline - time.monotonic())):
                results[name] = job.result
            else:
                results[name] = Result(FAIL, f"timed out after {self.timeout}s")
        return results

    def _not_evaluated(self) -> tuple[dict, bool]:
        return {"status": "not_ready", "checks": {}}, False


class DatabaseCheck:
    """Connect, and compare alembic's current heads with the heads of the migration scripts."""

    def __init__(self, app: Flask):
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        from aichat.extensions import db

        self.directory = app.extensions["migrate"].directory
        self.script_heads: set[str] | None = None  # the scripts cannot change while the process runs
        # A fresh connection each time, bounded by the driver's connect timeout: a pooled one
        # could be a socket to a server that has gone away. One check at a time, so one connection.
        options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        self.engine = create_engine(db.engine.url, poolclass=NullPool,
                                    connect_args=dict(options.get("connect_args", {})))

    def __call__(self) -> Result:
        from .schema import current_heads, missing_sqlite_file, script_heads

        if self.script_heads is None:
            self.script_heads = script_heads(self.directory)
        if missing_sqlite_file(self.engine.url):
            return Result(FAIL, "no database file")  # connecting would create an empty one
        try:
            current = current_heads(self.engine)
        except Exception as exc:  # noqa: BLE001 - any failure to connect or read is the finding
            return Result(FAIL, f"unreachable ({type(exc).__name__})")
        if current != self.script_heads:
            return Result(FAIL, "reachable, but migrations are not at head")
        return Result(OK, "reachable, migrations at head")


def storage_check(app: Flask) -> Callable[[], Result]:
    """Ping the rate-limit storage; in-process memory needs no check. Unreachable is degraded, not failed:
    the limits count in this process's memory meanwhile (and until the limiter has found it back)."""
    uri = app.config["RATELIMIT_STORAGE_URI"]
    scheme = uri.partition("://")[0]
    if scheme == "memory":
        return lambda: Result(OK, "in memory (per process)")
    fallback = app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED")
    dependency = runtime_of(app).redis

    from limits.storage import storage_from_string

    options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
    if scheme in ("redis", "rediss"):
        # Bound a hung ping, so a check that timed out ends by itself and can run again.
        options.setdefault("socket_connect_timeout", 5)
        options.setdefault("socket_timeout", 5)
    storage = storage_from_string(uri, **options)

    def check() -> Result:
        if not storage.check():
            if fallback:
                return Result(DEGRADED, f"unreachable ({scheme}): limits count per process until it returns")
            return Result(FAIL, f"unreachable ({scheme})")
        from aichat.limits.shared import PART as LIMITS
        from aichat.ratelimit import PART as LOGIN

        if dependency is not None and (LIMITS in dependency.down_parts or LOGIN in dependency.down_parts):
            return Result(DEGRADED, f"reachable ({scheme}) again: limits count per process until the next check")
        return Result(OK, f"reachable ({scheme})")

    return check


def providers_check(upstreams: dict, health=None) -> Result:
    """At least one provider whose circuit is available and that has a usable key, as the fleet sees it
    when health is shared (degraded while Redis is away and this process sees only its own)."""
    if "demo" in upstreams:
        return Result(OK, "demo responder (no provider keys configured)")
    # Counted, not named: which vendors serve this site, and which one is failing, is not public.
    usable = sum(upstream.usable() for upstream in upstreams.values())
    if not usable:
        return Result(FAIL, f"none of {len(upstreams)} usable: circuits open or keys benched")
    if health is None or health.shared is None:
        return Result(OK, f"{usable} of {len(upstreams)} usable")
    if health.scope == "shared":
        return Result(OK, f"{usable} of {len(upstreams)} usable (health shared by all processes)")
    return Result(DEGRADED, f"{usable} of {len(upstreams)} usable in this process: shared health unreachable")
