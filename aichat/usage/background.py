"""Keeps the daily rollup current without an operator.

Every process that writes usage runs a small daemon thread beside its usage writer: every
AICHAT_ROLLUP_INTERVAL seconds it rolls up the days marked dirty (usually just today). It is
started with the writer, lazily in each process (gunicorn forks workers after import), and
stopped with it; nothing of it runs on a request's path. Several processes share the work:
one of them runs a round per interval (rollup.claim_round), none waits for another's lock,
and rollups are serialised per database anyway.
"""
from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class RollupLoop:
    """Runs `job` every `interval` seconds on a daemon thread; interval 0 turns it off."""

    def __init__(self, job: Callable[[], object], interval: float):
        self._job = job
        self.interval = float(interval)
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread in this process, once; a no-op when turned off or already running here."""
        if self.interval <= 0 or (self._pid == os.getpid() and self._thread is not None):
            return
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aichat-usage-rollup", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the rollup in progress, if any, has finished."""
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            return
        self._stop.set()
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            # A little jitter, so workers started together do not all wake in the same instant.
            if self._stop.wait(self.interval * random.uniform(0.9, 1.1)):
                return
            try:
                self._job()
            except Exception:  # noqa: BLE001 - the next round tries again; the dirty marks are kept
                log.exception("background usage rollup failed; retrying in %.0fs", self.interval)


def rollup_loop(app) -> RollupLoop:
    """The rollup loop of `app`: dirty days in AICHAT_TIMEZONE every AICHAT_ROLLUP_INTERVAL seconds."""
    from aichat.extensions import db

    from .days import usage_zone
    from .rollup import claim_round, rollup_pending

    zone = usage_zone(app.config)

    interval = app.config["AICHAT_ROLLUP_INTERVAL"]

    def job():
        with app.app_context():
            # One round per interval across all processes; the others skip instead of repeating it.
            if not claim_round(db.engine, interval * 0.9):
                return
            result = rollup_pending(db.engine, zone)
        if result.days:
            log.debug("rolled up %d days (%d stats rows)", result.days, result.rows)

    return RollupLoop(job, interval)
