"""Counters in this process's memory: the default, and the fallback while Redis is away.

One lock around plain dict work (no I/O under it), so threads and greenlets see every check and
increment of a request as one step. Bounded: expired windows are swept, and past MAX_COUNTERS the
oldest counters are dropped (forgetting a count, never refusing because of memory).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from .plan import Counter

MAX_COUNTERS = 200_000  # per process; a counter is a few hundred bytes
SWEEP_EVERY = 60.0  # seconds between sweeps of expired windows


class MemoryCounters:
    """key -> [value, expires at (epoch seconds)]."""

    kind = "memory"

    def __init__(self, max_counters: int = MAX_COUNTERS, clock=time.time):
        self.max_counters = max_counters
        self._clock = clock
        self._values: dict[str, list] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def reserve(self, counters: Sequence[Counter], now: float) -> tuple[int, list[int]]:
        """Check every counter and add to all of them, or to none: (index of the first that refused or -1,
        each counter's value after the request, or the refusing one's value as it stands)."""
        with self._lock:
            values = []
            for i, counter in enumerate(counters):
                entry = self._values.get(counter.key)
                value = entry[0] if entry is not None and entry[1] > now else 0
                if value + counter.need > counter.limit:
                    return i, [*values, value]
                values.append(value)
            for i, counter in enumerate(counters):
                if counter.amount:
                    values[i] += counter.amount
                    self._put(counter.key, values[i], counter.window.reset + 1, now)
            return -1, values

    def adjust(self, changes: Iterable[tuple[str, int, int]], now: float) -> None:
        """Add each (key, delta, expires at) to its counter; a window already over is left alone."""
        with self._lock:
            for key, delta, expires in changes:
                if expires <= now:
                    continue
                entry = self._values.get(key)
                value = entry[0] if entry is not None and entry[1] > now else 0
                self._put(key, value + delta, expires, now)

    def read(self, keys: Sequence[str], now: float) -> list[int]:
        """The current values of `keys` (0 for a counter nothing has touched in its window)."""
        with self._lock:
            return [entry[0] if (entry := self._values.get(key)) is not None and entry[1] > now else 0
                    for key in keys]

    def _put(self, key: str, value: int, expires: int, now: float) -> None:
        entry = self._values.get(key)
        if entry is not None:
            entry[0], entry[1] = value, expires
            return
        if now >= self._next_sweep:
            self._sweep(now)
        while len(self._values) >= self.max_counters:
            del self._values[next(iter(self._values))]  # the oldest made: most likely over already
        self._values[key] = [value, expires]

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_EVERY
        for key in [key for key, entry in self._values.items() if entry[1] <= now]:
            del self._values[key]
