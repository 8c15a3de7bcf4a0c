"""Background work: small periodic jobs that start after fork, stop at exit, and may run fleet-wide.

A process starts its jobs lazily (`Jobs.start()`, cheap and idempotent: the usage writer calls
it when it starts, gunicorn once a worker has forked), because threads do not survive a fork
and gunicorn forks its workers after import; they stop at exit (`Jobs.stop()`, with the writer).
Each job runs every `interval` seconds (±10 %, so processes started together do not wake in the
same instant) on a daemon thread of its own, so a slow round never delays another job.

- A per-process job runs its round in every process (a configuration watcher).
- A fleet-wide job is given `claim`: before each round, `claim(min_gap)` says whether this
  process runs it, so one process runs one round per interval across every worker and instance
  (the rollup claims through rollup.claim_round: a database row and a lock nobody waits for).
"""
from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)


class Job:
    """Runs `run` every `interval` seconds on a daemon thread; interval 0 turns it off."""

    def __init__(self, name: str, run: Callable[[], object], interval: float,
                 claim: Callable[[float], bool] | None = None):
        self.name = name
        self._run_round = run
        self.interval = float(interval)
        self._claim = claim
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()

    @property
    def fleet_wide(self) -> bool:
        return self._claim is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def start(self) -> None:
        """Start the thread in this process, once; a no-op when turned off or already running here."""
        if self.interval <= 0 or (self._pid == os.getpid() and self._thread is not None):
            return
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"aichat-job-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the round in progress, if any, has finished."""
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return
        self._stop.set()
        thread.join(timeout)
        self._thread = None

    def run_once(self) -> bool:
        """One round now, if this process may run it (fleet-wide: if it claims the round); whether it ran."""
        # One round per interval across all processes; the others skip instead of repeating it.
        if self._claim is not None and not self._claim(self.interval * 0.9):
            return False
        self._run_round()
        return True

    def _loop(self) -> None:
        while True:
            if self._stop.wait(self.interval * random.uniform(0.9, 1.1)):
                return
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("background job %s failed; trying again in %.0fs", self.name, self.interval)


class Jobs:
    """The background jobs of one app."""

    def __init__(self):
        self._jobs: dict[str, Job] = {}

    def every(self, name: str, interval: float, run: Callable[[], object],
              claim: Callable[[float], bool] | None = None) -> Job:
        """Add a job: per process, or fleet-wide with `claim`; started with the others (or now, if they run)."""
        if name in self._jobs:
            raise ValueError(f"a background job named {name!r} exists already")
        job = self._jobs[name] = Job(name, run, interval, claim)
        if any(other.running for other in self._jobs.values()):
            job.start()
        return job

    def __getitem__(self, name: str) -> Job:
        return self._jobs[name]

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def start(self) -> None:
        """Start every job in this process; cheap and idempotent, so any first use may call it."""
        for job in self:
            job.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every job, each after its round in progress."""
        for job in self:
            job.stop(timeout)
