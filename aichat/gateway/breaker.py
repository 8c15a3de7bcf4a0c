"""A circuit breaker with hysteresis: N failures in a sliding window open it for a cool-down,
then a single probe decides whether it closes again (closed → open → half-open)."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, failures: int, window: float, cooldown: float, clock=time.monotonic):
        self.threshold = failures
        self.window = window
        self.cooldown = cooldown
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probe_claimed_at: float | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []

    shared = False  # this process's own state (a shared breaker says True while Redis carries it)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Tell `listener` the new state when the circuit opens, lets its probe through, or closes.

        It runs under the breaker's lock, so it must be quick and never call back into the breaker.
        """
        self._listeners = [*self._listeners, listener]  # a new list: a change being told keeps its own

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at < self.cooldown:
            return OPEN
        return HALF_OPEN

    def available(self) -> bool:
        """Could a call go through now? Does not claim the half-open probe."""
        state = self.state
        return state == CLOSED or (state == HALF_OPEN and not self._probe_in_flight())

    def allow(self) -> bool:
        """May a call go through now? In half-open, only the one caller that claims the probe may."""
        with self._lock:
            state = self.state
            if state == CLOSED:
                return True
            if state == OPEN or self._probe_in_flight():
                return False
            self._probe_claimed_at = self._clock()
            self._changed(HALF_OPEN)
        return True

    def record_success(self) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            self._failures.clear()
            self._opened_at = None
            self._probe_claimed_at = None
            if was_open:
                self._changed(CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._opened_at is not None:
                # A failed probe (or a straggler): open again for a full cool-down.
                self._opened_at = now
                self._probe_claimed_at = None
            else:
                self._failures.append(now)
                while self._failures and now - self._failures[0] > self.window:
                    self._failures.popleft()
                if len(self._failures) < self.threshold:
                    return
                self._opened_at = now
                self._failures.clear()
            self._changed(OPEN)

    def _changed(self, state: str) -> None:
        # Called under the lock: two threads changing the state tell it in the order it changed.
        for listener in self._listeners:
            listener(state)

    def _probe_in_flight(self) -> bool:
        # A probe whose caller vanished must not hold the circuit half-open forever.
        claimed = self._probe_claimed_at
        return claimed is not None and self._clock() - claimed < self.cooldown
