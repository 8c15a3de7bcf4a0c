"""Conversation turns are stored off the request path: the end-of-call hook queues them, a thread writes them.

The client has its answer before its turn is written (the hook only queues). The database away, a turn is
tried again with backoff; one the database keeps refusing is logged (its conversation and request id, never
its text) and counted as lost. A full queue or a stop with turns unwritten is logged and counted the same
way: nothing is lost silently (aichat_conversation_turns{outcome}).
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from aichat.gateway.attempt import CallOutcome

from .turns import Answer, answer_of

log = logging.getLogger(__name__)

ATTEMPTS = 5  # writes of one turn before it is given up as lost
RETRY_MAX_DELAY = 5.0
_STOP = None


class TurnWriter:
    """A queue of answered turns and the thread that stores them with `write(answer)`."""

    def __init__(self, write: Callable[[Answer], bool], queue_max: int = 10000,
                 tally: Callable[[str, int], None] | None = None, retry_delay: float = 0.2):
        self._write_one = write
        self._retry_delay = retry_delay
        self._queue_max = queue_max
        self._tally = tally or (lambda outcome, count: None)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._done = threading.Condition()
        self._submitted = self._settled = 0
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = threading.Event()

    def hook(self, outcome: CallOutcome) -> None:
        """The end-of-call hook: queue the turn of a conversation's call (cheap; nothing is written here)."""
        answer = answer_of(outcome)
        if answer is not None:
            self.submit(answer)

    def submit(self, answer: Answer) -> None:
        if self._pid != os.getpid():
            self._start()  # first use in this process (gunicorn forks after import)
        if self._queue.qsize() >= self._queue_max:
            self._lost([answer], "the queue is full")
            return
        with self._lock:
            self._submitted += 1
        self._queue.put(answer)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every turn queued so far is stored or given up; False when that took longer than `timeout`."""
        target, deadline = self._submitted, time.monotonic() + timeout
        with self._done:
            while self._settled < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Store what can be stored within `timeout`, then stop; the rest is logged and counted as lost."""
        if self._thread is None or self._pid != os.getpid():
            return True
        flushed = self.flush(timeout)
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(1.0)
        self._thread = None
        left = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                left.append(item)
        if left:
            self._lost(left, "the server stopped before they could be written")
            self._settle(len(left))
        return flushed

    # --- the writer -------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._queue = queue.SimpleQueue()
            self._submitted = self._settled = 0
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._run, name="aichat-turn-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            answer = self._queue.get()
            if answer is _STOP:
                return
            self._store(answer)
            self._settle(1)

    def _store(self, answer: Answer) -> None:
        delay = self._retry_delay
        for attempt in range(1, ATTEMPTS + 1):
            try:
                stored = self._write_one(answer)
            except Exception as exc:  # noqa: BLE001 - the database may come back; the request is long answered
                if attempt == ATTEMPTS or self._stopping.is_set():
                    log.error("storing the turn of request %s in conversation %s failed %d times (%s): lost",
                              answer.turn.request_id, answer.turn.conversation_id, attempt, type(exc).__name__)
                    self._tally("lost", 1)
                    return
                log.warning("storing the turn of request %s in conversation %s failed (%s); retrying in %.1fs",
                            answer.turn.request_id, answer.turn.conversation_id, type(exc).__name__, delay,
                            exc_info=attempt == 1)
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
                continue
            self._tally("written" if stored else "gone", 1)
            return

    def _settle(self, count: int) -> None:
        with self._done:
            self._settled += count
            self._done.notify_all()

    def _lost(self, answers: list[Answer], why: str) -> None:
        log.error("%d conversation turns lost: %s (requests %s)", len(answers), why,
                  ", ".join(a.turn.request_id for a in answers[:10]))
        self._tally("lost", len(answers))


def database_writer(app) -> Callable[[Answer], bool]:
    """`write(answer)` in `app`'s database, in a session of its own (the writer's thread has no request)."""
    from aichat.extensions import db

    from .turns import store

    def write(answer: Answer) -> bool:
        with app.app_context():
            try:
                return store(db.session, answer)
            except BaseException:
                db.session.rollback()
                raise

    return write
