"""The process's lifecycle: serving, then draining after SIGTERM until a deadline."""
from __future__ import annotations

import time


class Lifecycle:
    """Draining starts once (gunicorn's SIGTERM); streams in flight may run until `deadline`."""

    def __init__(self, stop_deadline: float):
        self.stop_deadline = stop_deadline
        self.deadline: float | None = None  # time.monotonic() after which streams are ended

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    def begin_drain(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.stop_deadline

    def expired(self) -> bool:
        """Past the deadline: a stream still open now ends with an error event."""
        return self.deadline is not None and time.monotonic() >= self.deadline
