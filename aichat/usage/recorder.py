"""Usage rows are queued on the request path and written in batches by a background thread.

The client has its answer before its row is written. Records are opaque here: the store
(store.UsageStore) makes rows of them, writes them, spools them and replays the spool.
- The database away (connection lost or refused): the batch is retried with backoff, never
  dropped. Rows the database refuses are the store's to split, salvage or set aside; any other
  failure is retried a few times, then the batch is spooled so later rows do not wait behind it.
- The queue is bounded (AICHAT_USAGE_QUEUE_MAX): past half of it a spiller thread moves rows to
  the spool; past all of it a new row is shed. Both are counted; sheds are logged at most once
  per SHED_LOG_INTERVAL.
- `close()` writes what it can by its deadline and spools the rest. The writer replays the
  spool when it starts and, after spilling, once it has caught up; each file exactly once.
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
_STOP = None  # ends the writer
RETRY_MAX_DELAY = 5.0  # seconds between attempts while the database is away
STUBBORN_FAILURES = 10  # failures neither "away" nor "refused" after which a batch is spooled instead
SHED_LOG_INTERVAL = 60.0  # at most one log line this often about shed rows
REPLAY_INTERVAL = 5.0  # seconds between attempts to replay a spool that is not empty


class UsageRecorder:
    def __init__(self, store, batch_size: int = 50, flush_interval: float = 0.5, companion=None,
                 queue_max: int = 10000, tally: Callable[[str, int], None] | None = None):
        self._store = store
        self._write_batch = store.write
        # Background jobs with start() and stop() (the rollup) that live and die with the writer.
        self._companion = companion
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue_max = queue_max
        self._spill_at = max(1, queue_max // 2)
        self._keep = min(batch_size, self._spill_at // 2)  # rows a spill leaves for the writer's next batch
        self._tally = tally or (lambda outcome, count: None)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._done = threading.Condition()
        self._count_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._spill_lock = threading.Lock()
        self._spill_retry_at = 0.0  # after a failed spill, the spool is not tried again before this
        self._lock = threading.Lock()  # the batch in flight, between the writer and close()
        self._inflight: list | None = None
        self._submitted = 0
        self._settled = 0  # written, spooled, set aside or lost at stop
        self._thread: threading.Thread | None = None
        self._spiller: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        self._wake = threading.Event()  # ends a retry's wait at stop
        self._spill = threading.Event()
        self._replayed = threading.Event()  # the spool found at start has been tried
        self._replay_at: float | None = None  # when to try the spool again; None: nothing waiting
        self._shed_unreported = 0
        self._shed_logged_at = float("-inf")
        self._closed: tuple[int, bool] | None = None  # (pid, nothing lost) once closed in that process

    def submit(self, record) -> None:
        """Queue one row; cheap enough for the request path."""
        if self._pid != os.getpid():
            self._start()  # first use in this process (gunicorn forks after import)
        size = self._queue.qsize()
        if size >= self._spill_at:
            # Full: this request spills at once (a burst can outrun the spiller), or, if the spool fails, sheds.
            if size >= self._queue_max and not self._spill_some():
                self._shed(1)
                return
            self._spill.set()
        with self._count_lock:
            self._submitted += 1
        self._queue.put(record)

    def start(self) -> None:
        """Start the writer (and its companion) in this process, if not yet: after fork, before the first row."""
        if self._pid != os.getpid():
            self._start()

    @property
    def pending(self) -> int:
        return self._submitted - self._settled

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted so far is written or spooled; False if that took longer than `timeout`."""
        target = self._submitted
        if self._settled < target:
            self._queue.put(_FLUSH)
        deadline = time.monotonic() + timeout
        with self._done:
            while self._settled < target or (self._thread is not None and not self._replayed.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write what can be written within `timeout`, spool the rest and stop; False if rows were lost.

        Closing again (atexit after gunicorn's hook) is a no-op.
        """
        if self._closed is not None and self._closed[0] == os.getpid():
            return self._closed[1]
        kept = True
        if self._thread is not None and self._pid == os.getpid():
            handover = min(1.0, timeout / 4)
            flushed = self.flush(max(0.0, timeout - handover))
            self._stopping = True
            self._wake.set()
            self._spill.set()
            self._queue.put(_STOP)
            self._thread.join(handover if not flushed else 1.0)
            if not flushed:
                kept = self._take_over()
        if self._companion is not None:
            self._companion.stop()
        self._report_shed()
        self._closed = (os.getpid(), kept)
        return kept

    # --- the writer -------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._submitted = self._settled = 0
            self._queue = queue.SimpleQueue()
            self._stopping = False
            self._inflight = None
            self._wake, self._spill, self._replayed = threading.Event(), threading.Event(), threading.Event()
            self._thread = threading.Thread(target=self._run, name="aichat-usage-writer", daemon=True)
            self._thread.start()
            self._spiller = threading.Thread(target=self._spill_loop, name="aichat-usage-spiller", daemon=True)
            self._spiller.start()
        if self._companion is not None:
            self._companion.start()

    def _run(self) -> None:
        self._replay()  # what an earlier process left: first, before this one's rows
        self._replayed.set()
        while True:
            batch = self._collect()
            if batch is None:
                return
            if batch and not self._write(batch):
                return
            due = self._replay_at is not None and time.monotonic() >= self._replay_at
            if due and self._queue.qsize() < self._batch_size:
                self._replay()

    def _collect(self) -> list | None:
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
        if first is _STOP:
            return None
        batch = [first]
        with self._lock:
            self._inflight = batch
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
            if item is _STOP:
                self._queue.put(_STOP)  # stop after this batch
                break
            with self._lock:
                if self._inflight is not batch:  # close() took the batch over meanwhile
                    self._queue.put(item)
                    break
                batch.append(item)
        return batch

    def _write(self, batch: list) -> bool:
        """Write one batch, retrying while the database is away; False once stopping has taken the rest."""
        delay = 0.2
        failures = 0
        tried = False
        while True:
            try:
                if tried:
                    self._write_batch(batch, retry=True)  # an earlier attempt may have committed
                else:
                    self._write_batch(batch)
                break
            except Exception as exc:  # noqa: BLE001 - keep the rows, the database may come back
                tried = True
                failures += 1
                if not self._mine(batch):
                    return False  # close() took it over
                if self._stopping:
                    self._hand_over(batch)
                    return False
                if failures >= STUBBORN_FAILURES and not self._store.unreachable(exc):
                    log.error("writing %d usage rows failed %d times (%s); spooling them to be written later",
                              len(batch), failures, type(exc).__name__)
                    if self._spool(batch, in_doubt=True):
                        self._release(batch)
                        return True
                    failures = 0
                if failures == 1:
                    log.exception("writing %d usage rows failed; retrying", len(batch))
                else:
                    log.warning("writing %d usage rows failed again (%s); retrying in %.1fs",
                                len(batch), type(exc).__name__, delay)
                self._wake.wait(delay)
                delay = min(delay * 2, RETRY_MAX_DELAY)
        self._release(batch)
        return True

    def _mine(self, batch: list) -> bool:
        with self._lock:
            return self._inflight is batch

    def _release(self, batch: list) -> None:
        """The batch is written or spooled: count it done, unless close() took it over meanwhile."""
        with self._lock:
            mine = self._inflight is batch
            if mine:
                self._inflight = None
        if mine:
            self._settle(len(batch))

    def _settle(self, count: int) -> None:
        with self._done:
            self._settled += count
            self._done.notify_all()

    # --- the spool --------------------------------------------------------------------------------

    def _replay(self) -> None:
        """Write what waits in the spool; on failure try again in REPLAY_INTERVAL."""
        try:
            self._store.replay()
            waiting = self._store.has_spool()
        except Exception as exc:  # noqa: BLE001 - the files stay for the next attempt
            if self._replay_at is None:
                log.warning("replaying the usage spool failed (%s); trying again in %.0fs",
                            type(exc).__name__, REPLAY_INTERVAL)
            waiting = True
        self._replay_at = time.monotonic() + REPLAY_INTERVAL if waiting else None

    def _spool(self, records: list, in_doubt: bool = False) -> bool:
        if not records:
            return True
        try:
            self._store.spool(records, in_doubt)
        except Exception:  # noqa: BLE001 - the caller keeps or counts the rows
            log.exception("could not spool %d usage rows", len(records))
            return False
        return True

    def _spill_loop(self) -> None:
        """Move rows past the spill mark to the spool, so a slow or absent database cannot fill memory."""
        while True:
            self._spill.wait()
            self._spill.clear()
            if self._stopping:
                return
            if self._queue.qsize() >= self._spill_at:
                self._spill_some()

    def _spill_some(self) -> bool:
        """Spool the queued rows beyond the writer's next batch; False if the spool failed (lately)."""
        with self._spill_lock:
            if time.monotonic() < self._spill_retry_at:
                return False
            records = self._drain(self._queue.qsize() - self._keep)
            if self._spool(records):
                self._settle(len(records))
                self._replay_at = self._replay_at or time.monotonic() + REPLAY_INTERVAL
                if records:
                    log.warning("usage writer behind: %d queued rows spooled to be written later", len(records))
                return True
            for record in records:  # kept; new rows are shed while the queue is full
                self._queue.put(record)
            self._spill_retry_at = time.monotonic() + RETRY_MAX_DELAY
            return False

    def _drain(self, limit: int | None = None) -> list:
        """Take up to `limit` queued records (all without one), leaving the markers in the queue."""
        records, markers = [], []
        while limit is None or len(records) < limit:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            (markers if item is _FLUSH or item is _STOP else records).append(item)
        for marker in markers:
            self._queue.put(marker)
        return records

    def _hand_over(self, batch: list) -> None:
        """Stopping with the database away: spool the batch in flight and everything queued (writer side)."""
        with self._lock:
            if self._inflight is not batch:
                return
            self._inflight = None
        self._spool_at_stop(batch, self._drain())

    def _take_over(self) -> bool:
        """The writer did not hand over by the deadline (stuck in a database call): spool for it.

        The batch in flight is spooled in doubt (its commit may yet land: the replay skips rows
        already in the log); a row the writer collects at this very moment goes back to the queue.
        """
        with self._lock:
            batch, self._inflight = self._inflight, None
        if not self._thread.is_alive() and batch is None and self.pending == 0:
            return True
        return self._spool_at_stop(batch or [], self._drain())

    def _spool_at_stop(self, batch: list, queued: list) -> bool:
        """The batch in flight (it may have been committed: in doubt) and the rows queued, to the spool."""
        kept = True
        for records, in_doubt in ((batch, True), (queued, False)):
            if self._spool(records, in_doubt):
                if records:
                    log.warning("usage database unavailable at stop: %d rows spooled to %s, written at the "
                                "next start", len(records), self._store.spool_dir)
            else:
                log.error("usage recorder stopped with %d rows lost", len(records))
                self._tally("shed", len(records))
                kept = False
            self._settle(len(records))
        return kept

    def _shed(self, count: int) -> None:
        self._tally("shed", count)
        self._shed_unreported += count
        now = time.monotonic()
        if now - self._shed_logged_at >= SHED_LOG_INTERVAL:
            self._shed_logged_at = now
            self._report_shed()

    def _report_shed(self) -> None:
        count, self._shed_unreported = self._shed_unreported, 0
        if count:
            log.error("usage queue full (AICHAT_USAGE_QUEUE_MAX=%d) and the spool not keeping up: %d usage rows "
                      "shed since the last report (aichat_usage_rows_total{outcome=\"shed\"})",
                      self._queue_max, count)
