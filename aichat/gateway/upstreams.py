"""The configured upstreams: each provider with its adapter, keys in rotation and breakers."""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from .breaker import CircuitBreaker
from .health import KeyHealth


@dataclass(eq=False)
class KeySlot:
    """One upstream key: its SDK client (built once), a label safe to log, and its health (which outlives it)."""

    label: str
    client: object
    breaker: CircuitBreaker
    health: KeyHealth = field(default_factory=KeyHealth)

    @property
    def invalid_reason(self) -> str | None:
        """Why the key is benched (401/403, out of credit), or None while it is in rotation."""
        return self.health.reason

    def bench(self, reason: str) -> None:
        """Take the key out of rotation until a re-test succeeds."""
        self.health.bench(reason)

    def due_for_retest(self, interval: float) -> bool:
        return self.health.due_for_retest(interval)

    def restore(self) -> None:
        self.health.restore()

    def usable(self) -> bool:
        """Could a call use this key now: not benched, circuit not open (the half-open probe is not claimed)."""
        return self.invalid_reason is None and self.breaker.available()


@dataclass(eq=False)
class Upstream:
    """An upstream as configured: name, adapter (of its kind), default model, keys used in turn."""

    name: str
    adapter: object
    default_model: str
    keys: list[KeySlot]
    breaker: CircuitBreaker
    key_retest_interval: float = 600.0
    kind: str = ""  # the provider module that speaks its protocol; the name when not given
    spec: object = None  # the UpstreamSpec it was built from, to reuse it when a rebuild finds it unchanged
    _turn: itertools.count = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        self.kind = self.kind or self.name

    def rotation(self) -> Iterator[KeySlot]:
        """Every key once, starting one further along than last time; benched keys only when due a re-test."""
        if not self.keys:
            return
        start = next(self._turn) % len(self.keys)
        for i in range(len(self.keys)):
            slot = self.keys[(start + i) % len(self.keys)]
            if slot.health.reason is None or slot.due_for_retest(self.key_retest_interval):
                yield slot

    def usable(self) -> bool:
        """Could a call go to this provider now: circuit not open, and some key usable."""
        return self.breaker.available() and any(key.usable() for key in self.keys)

    def health(self) -> dict:
        """Circuit and key states, for health checks and the console (labels only, never keys)."""
        return {
            "provider": self.name,
            # Whose state this is: every process's (through Redis), or this worker's own.
            "scope": "shared" if self.breaker.shared else "worker_process",
            "circuit": self.breaker.state,
            "keys": [
                {"label": k.label, "circuit": k.breaker.state, "invalid": k.invalid_reason} for k in self.keys
            ],
        }
