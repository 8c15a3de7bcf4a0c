"""An optional dependency (Redis) as this process sees it: up while every part that uses it works.

Each part that uses the dependency (the rate limiter, shared health) reports when it loses it and
when it has it back; the dependency is down while any part is down. Each change of that state is
said exactly once: one log line, and the listeners (the metrics) are told. Plain Python, no Flask.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Dependency:
    """Up or down, with the parts that use it (each falls back to this process while it is down)."""

    def __init__(self, name: str):
        self.name = name
        self._parts: list[str] = []  # what uses it, in words: "rate limits", "circuit and key health"
        self._down: dict[str, str] = {}  # part -> why it lost the dependency
        self._listeners: list[Callable[[bool], None]] = []
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return not self._down

    @property
    def down_parts(self) -> set[str]:
        """The parts that are without it now."""
        return set(self._down)

    @property
    def reason(self) -> str:
        """Why it is down (the first part's error class), or empty while up."""
        return next(iter(self._down.values()), "")

    def uses(self, part: str) -> None:
        """Declare a part that uses the dependency, named in the log lines."""
        if part not in self._parts:
            self._parts.append(part)

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """Tell `listener` the new state (True: up) on every change; it runs under a lock, so it must be quick."""
        self._listeners = [*self._listeners, listener]

    def report(self, part: str, ok: bool, reason: str = "") -> None:
        """A part has the dependency (ok) or has lost it (`reason`: an error class, never a host or password)."""
        with self._lock:
            was_up = not self._down
            if ok:
                self._down.pop(part, None)
            else:
                self._down.setdefault(part, reason or "unreachable")
            if was_up == (not self._down):
                return
            self._say(not self._down)

    def _say(self, up: bool) -> None:
        parts = " and ".join(self._parts) or "nothing"
        if up:
            log.warning("%s reachable again: %s shared through it again", self.name, parts)
        else:
            log.warning("%s unreachable (%s): %s fall back to this process until it returns",
                        self.name, self.reason, parts)
        for listener in self._listeners:
            listener(up)
