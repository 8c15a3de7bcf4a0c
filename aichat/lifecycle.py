"""The process's lifecycle: serving, then draining after SIGTERM until a deadline.

On SIGTERM gunicorn stops accepting and waits up to its graceful timeout for requests in
flight. Calls may run until the stop deadline, which stays below that timeout. Then each stream
still open ends with a `server_shutting_down` error event, and each JSON call still waiting on
upstream with a 503 of that code; either way its usage row is written as that error (a stream's
with the tokens delivered so far) before the worker flushes its rows and exits.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aichat.gateway import Interrupted
from aichat.providers.base import ProviderError

log = logging.getLogger(__name__)

# What a stopping worker keeps for itself after the deadline: ending streams, flushing usage rows.
STOP_MARGIN = 5.0
# Of the time left before gunicorn kills a stopping worker: kept for spooling the rows not yet written.
SPOOL_RESERVE = 1.0


class ServerShuttingDown(ProviderError):
    """The server is stopping and this call was still open at the stop deadline."""

    code = "server_shutting_down"

    def __init__(self) -> None:
        super().__init__("the server is restarting and ended this answer at its stop deadline; "
                         "send the request again")


_CLAIMED = object()  # what a watched greenlet finds in place of its entry once the deadline has claimed it


class Lifecycle:
    """Draining starts once (gunicorn's SIGTERM); calls in flight may run until `deadline`."""

    def __init__(self, stop_deadline: float):
        self.stop_deadline = stop_deadline
        self.deadline: float | None = None  # time.monotonic() after which streams are ended
        self.stopped_at: float | None = None  # time.monotonic() of SIGTERM
        self.graceful_timeout: float | None = None  # gunicorn's: it kills a worker this long after SIGTERM
        self._current = None  # gevent.getcurrent once greenlets are tracked (gunicorn's gevent worker)
        self._spawn = None
        self._sleep = None
        self._watched: dict[Any, Any] = {}  # greenlet -> the StreamSession it serves, or None for a JSON call

    @property
    def draining(self) -> bool:
        return self.deadline is not None

    def begin_drain(self) -> None:
        if self.deadline is None:
            self.stopped_at = time.monotonic()
            self.deadline = self.stopped_at + self.stop_deadline
            if self._spawn is not None:
                # A greenlet of its own: a signal handler should not sleep, log or switch.
                self._spawn(self._end_at_deadline)

    def expired(self) -> bool:
        """Past the deadline: a call still open now ends with ServerShuttingDown."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def clamp(self, graceful_timeout: float) -> None:
        """Keep the deadline below gunicorn's graceful timeout, leaving time to end calls and flush rows."""
        self.graceful_timeout = graceful_timeout
        limit = max(graceful_timeout - STOP_MARGIN, graceful_timeout / 2)
        if self.stop_deadline > limit:
            log.warning("AICHAT_STOP_DEADLINE=%ss does not leave %ss before the graceful timeout (%ss): "
                        "using %ss", self.stop_deadline, STOP_MARGIN, graceful_timeout, limit)
            self.stop_deadline = limit

    def flush_budget(self, limit: float) -> float:
        """Seconds an exiting worker may spend writing usage rows: at most `limit`, and once stopping, up to
        SPOOL_RESERVE before gunicorn's kill, so what is still unwritten is spooled rather than lost."""
        if self.stopped_at is None or self.graceful_timeout is None:
            return limit
        left = self.stopped_at + self.graceful_timeout - SPOOL_RESERVE - time.monotonic()
        return max(0.5, min(limit, left))

    def track_greenlets(self) -> None:
        """Under gevent: remember which greenlet serves each call, to wake it at the deadline."""
        import gevent

        self._current = gevent.getcurrent
        self._spawn = gevent.spawn
        self._sleep = gevent.sleep

    # --- around each stream -------------------------------------------------

    def relay(self, session) -> Iterator[str]:
        """A stream's text as it arrives, ended with ServerShuttingDown at the stop deadline (both chat surfaces)."""
        with self.watch(session):
            for text in session:
                yield text
                if self.deadline is not None:
                    self.check(session)

    @contextmanager
    def watch(self, session) -> Iterator[None]:
        """Around a stream's iteration: at the deadline it ends, even while its upstream is silent."""
        if self.deadline is not None:
            self.check(session)
        if self._current is None:
            yield
            return
        greenlet = self._current()
        self._watched[greenlet] = session
        try:
            yield
        except Interrupted:
            raise _end(session) from None
        finally:
            self._watched.pop(greenlet, None)

    @contextmanager
    def watch_call(self) -> Iterator[None]:
        """Around a JSON call: at the deadline, one still waiting on upstream ends with ServerShuttingDown."""
        # Plain threads have no greenlet to wake: a call there waits for upstream, as before.
        if self.expired():
            raise ServerShuttingDown()  # nothing is sent upstream any more
        if self._current is None:
            yield
            return
        greenlet = self._current()
        self._watched[greenlet] = None
        woken = False
        try:
            yield
        except Interrupted as stop:  # landed outside the gateway's upstream wait: nothing to record
            woken = True
            raise stop.error from None
        except ServerShuttingDown:  # the gateway took the wake and recorded the attempt
            woken = True
            raise
        finally:
            if self._watched.pop(greenlet, _CLAIMED) is _CLAIMED and not woken:
                self._absorb_wake()

    def _absorb_wake(self) -> None:
        """Take a wake already on its way to this greenlet, so it cannot land in the response being written."""
        # The deadline claimed this call, but upstream answered in the same turn of the event loop,
        # before the wake arrived. The wake is the next callback queued for this greenlet: yielding
        # once receives it here, and the answer is sent as it came.
        try:
            self._sleep(0)
        except Interrupted:
            pass

    def check(self, session) -> None:
        """Between deltas, once draining: past the deadline, end the stream with ServerShuttingDown."""
        if self.expired():
            raise _end(session)

    def _end_at_deadline(self) -> None:
        import gevent

        log.info("draining: calls still open in %.1fs end with server_shutting_down", self.stop_deadline)
        gevent.sleep(max(0.0, self.deadline - time.monotonic()))
        self.end_open_calls()

    def end_open_calls(self) -> None:
        """The deadline's work: wake every watched call, to end it with ServerShuttingDown."""
        watched = list(self._watched.items())
        self._watched.clear()
        streams = sum(session is not None for _, session in watched)
        if watched:
            log.warning("stop deadline: ending %d streams still open and %d JSON calls waiting on upstream",
                        streams, len(watched) - streams)
        for greenlet, session in watched:
            err = ServerShuttingDown()
            if session is not None:
                # Marked first: wherever the wake lands (a silent upstream, a slow client), the row says why.
                session.end_with(err)
            greenlet.kill(Interrupted(err), block=False)


def _end(session) -> ServerShuttingDown:
    err = ServerShuttingDown()
    session.end_with(err)
    return err
