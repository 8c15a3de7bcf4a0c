"""A check's result, and the runner that keeps every check bounded: none may raise or hang."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from flask import Flask

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    reason: str  # what was found and, unless ok, what to do
    ms: float | None = None  # how long the check took

    def as_dict(self) -> dict:
        return asdict(self)


def worst(results: list[Check]) -> str:
    return max((r.status for r in results), key=_RANK.__getitem__, default=OK)


def strictness(app: Flask) -> str:
    """What a risky setting is: a failure in production, a warning in development."""
    return FAIL if app.config["AICHAT_ENV"] == "production" else WARN


def bounded(app: Flask, name: str, check: Callable[[Flask], Check], timeout: float) -> Check:
    """Run one check in its own thread and app context, timed; a crash or a hang becomes a failure."""
    # A thread rather than a signal: this also runs inside a gevent worker serving /health/verify,
    # where a thread is a greenlet and join(timeout) still bounds the wait.
    box: list[Check] = []

    def target() -> None:
        try:
            with app.app_context():
                box.append(check(app))
        except Exception as exc:  # noqa: BLE001 - a broken check is a finding, not a traceback
            box.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {str(exc)[:200]}"))

    started = time.perf_counter()
    worker = threading.Thread(target=target, name=f"verify-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    ms = round((time.perf_counter() - started) * 1000, 1)
    if not box:
        return Check(name, FAIL, f"did not finish within {timeout:g} s: whatever it waits on hangs "
                                 f"(raise AICHAT_VERIFY_TIMEOUT only if it is merely slow)", ms)
    return replace(box[0], name=box[0].name or name, ms=ms)
