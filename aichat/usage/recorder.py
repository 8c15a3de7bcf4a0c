"""Usage rows are queued on the request path and written in batches by a background thread.

The client has its answer before its row is written; rows are retried, never dropped,
while the database is briefly away, and `close()` flushes what is left at shutdown.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_FLUSH = object()  # ends the batch being collected, so flush() need not wait out the interval


class UsageRecorder:
    def __init__(self, write_batch: Callable[[list[dict]], None], batch_size: int = 50,
                 flush_interval: float = 0.5, companion=None):
        self._write_batch = write_batch
        # A periodic job with start() and stop() (the rollup) that lives and dies with the writer.
        self._companion = companion
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._done = threading.Condition()
        self._count_lock = threading.Lock()
        self._submitted = 0
        self._written = 0
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._closed: tuple[int, bool] | None = None  # (pid, flushed) once closed in that process

    def submit(self, record: dict) -> None:
        """Queue one row; cheap enough for the request path."""
        if self._pid != os.getpid():
            self._start()  # first use in this process (gunicorn forks after import)
        with self._count_lock:
            self._submitted += 1
        self._queue.put(record)

    @property
    def pending(self) -> int:
        return self._submitted - self._written

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted so far is written; False if that took longer than `timeout`."""
        target = self._submitted
        if self._written < target:
            self._queue.put(_FLUSH)
        deadline = time.monotonic() + timeout
        with self._done:
            while self._written < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Flush and stop the writer (at shutdown); closing again (atexit after gunicorn's hook) is a no-op."""
        if self._closed is not None and self._closed[0] == os.getpid():
            return self._closed[1]
        flushed = self.flush(timeout)
        if self._thread is not None and self._pid == os.getpid():
            self._stopping = True
            self._queue.put(None)
            self._thread.join(timeout=1.0)
        if self._companion is not None:
            self._companion.stop()
        if not flushed:
            log.error("usage recorder stopped with %d rows unwritten", self.pending)
        self._closed = (os.getpid(), flushed)
        return flushed

    def _start(self) -> None:
        self._pid = os.getpid()
        self._submitted = self._written = 0
        self._queue = queue.SimpleQueue()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="aichat-usage-writer", daemon=True)
        self._thread.start()
        if self._companion is not None:
            self._companion.start()

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            if batch:
                self._write_with_retry(batch)

    def _collect(self) -> list[dict] | None:
        """Up to batch_size rows, gathered for at most flush_interval after the first arrives.

        One commit per batch rather than per row: a commit is the expensive part (an fsync
        on SQLite), and it runs in the same process as the requests.
        """
        first = _FLUSH
        while first is _FLUSH:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                return []
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self._flush_interval
        while len(batch) < self._batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is _FLUSH:
                break
            if item is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(item)
        return batch

    def _write_with_retry(self, batch: list[dict]) -> None:
        delay = 0.2
        while True:
            try:
                self._write_batch(batch)
                break
            except Exception:  # noqa: BLE001 - keep the rows, the database may come back
                log.exception("writing %d usage rows failed; retrying in %.1fs", len(batch), delay)
                if self._stopping:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        with self._done:
            self._written += len(batch)
            self._done.notify_all()
