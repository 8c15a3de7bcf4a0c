"""The process's lifecycle: serving, then draining after SIGTERM until a deadline.

On SIGTERM gunicorn stops accepting and waits up to its graceful timeout for requests in
flight. Streams may run until the stop deadline, which stays below that timeout; each one still
open then ends with a `server_shutting_down` error event, so its usage row is written as that
error (with the tokens delivered so far) before the worker flushes its rows and exits.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aichat.providers.base import ProviderError

log = logging.getLogger(__name__)

# What a stopping worker keeps for itself after the deadline: ending streams, flushing usage rows.
STOP_MARGIN = 5.0


class ServerShuttingDown(ProviderError):
    """The server is stopping and this stream was still open at the stop deadline."""

    code = "server_shutting_down"

    def __init__(self) -> None:
        super().__init__("the server is restarting and ended this answer at its stop deadline; "
                         "send the request again")


# A BaseException, so the adapters' `except Exception` (which maps SDK errors onto the taxonomy)
# lets it through to the stream that is waiting on a silent upstream.
class _Wake(BaseException):
    """Thrown into a stream's greenlet at the deadline."""


class Lifecycle:
    """Draining starts once (gunicorn's SIGTERM); streams in flight may run until `deadline`."""

    def __init__(self, stop_deadline: float):
        self.stop_deadline = stop_deadline
        self.deadline: float | None = None  # time.monotonic() after which streams are ended
        self._current = None  # gevent.getcurrent once greenlets are tracked (gunicorn's gevent worker)
        self._spawn = None
        self._streams: dict[Any, Any] = {}  # greenlet -> StreamSession it is serving

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    def begin_drain(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.stop_deadline
            if self._spawn is not None:
                # A greenlet of its own: a signal handler should not sleep, log or switch.
                self._spawn(self._end_at_deadline)

    def expired(self) -> bool:
        """Past the deadline: a stream still open now ends with an error event."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def clamp(self, graceful_timeout: float) -> None:
        """Keep the deadline below gunicorn's graceful timeout, leaving time to end streams and flush rows."""
        limit = max(graceful_timeout - STOP_MARGIN, graceful_timeout / 2)
        if self.stop_deadline > limit:
            log.warning("AICHAT_STOP_DEADLINE=%ss does not leave %ss before the graceful timeout (%ss): "
                        "using %ss", self.stop_deadline, STOP_MARGIN, graceful_timeout, limit)
            self.stop_deadline = limit

    def track_greenlets(self) -> None:
        """Under gevent: remember which greenlet serves each stream, to wake it at the deadline."""
        import gevent

        self._current = gevent.getcurrent
        self._spawn = gevent.spawn

    # --- around each stream -------------------------------------------------

    @contextmanager
    def watch(self, session) -> Iterator[None]:
        """Around a stream's iteration: at the deadline it ends, even while its upstream is silent."""
        if self.deadline is not None:
            self.check(session)
        if self._current is None:
            yield
            return
        greenlet = self._current()
        self._streams[greenlet] = session
        try:
            yield
        except _Wake:
            raise _end(session) from None
        finally:
            self._streams.pop(greenlet, None)

    def check(self, session) -> None:
        """Between deltas, once draining: past the deadline, end the stream with ServerShuttingDown."""
        if self.expired():
            raise _end(session)

    def _end_at_deadline(self) -> None:
        import gevent

        log.info("draining: streams still open in %.1fs end with server_shutting_down", self.stop_deadline)
        gevent.sleep(max(0.0, self.deadline - time.monotonic()))
        open_streams = list(self._streams.items())
        self._streams.clear()
        if open_streams:
            log.warning("stop deadline: ending %d streams still open", len(open_streams))
        for greenlet, session in open_streams:
            # Marked first: wherever the wake lands (a silent upstream, a slow client), the row says why.
            session.end_with(ServerShuttingDown())
            greenlet.kill(_Wake, block=False)


def _end(session) -> ServerShuttingDown:
    err = ServerShuttingDown()
    session.end_with(err)
    return err
