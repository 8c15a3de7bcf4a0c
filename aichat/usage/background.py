"""Keeps the daily rollup current without an operator: a fleet-wide background job (aichat.jobs).

Every AICHAT_ROLLUP_INTERVAL seconds it rolls up the days marked dirty (usually just today).
Every process that writes usage has the job; one of them runs a round per interval
(rollup.claim_round), none waits for another's lock, and rollups are serialised per database
anyway. Nothing of it runs on a request's path.
"""
from __future__ import annotations

import logging

from aichat.jobs import Job, Jobs

log = logging.getLogger(__name__)

ROLLUP_JOB = "usage-rollup"


def add_rollup(jobs: Jobs, app) -> Job:
    """The rollup of `app` as a job of `jobs`: dirty days in AICHAT_TIMEZONE every AICHAT_ROLLUP_INTERVAL seconds."""
    from aichat.extensions import db

    from .days import usage_zone
    from .rollup import claim_round, rollup_pending

    zone = usage_zone(app.config)

    def claim(min_gap: float) -> bool:
        with app.app_context():
            return claim_round(db.engine, min_gap)

    def run() -> None:
        with app.app_context():
            result = rollup_pending(db.engine, zone)
        if result.days:
            log.debug("rolled up %d days (%d stats rows)", result.days, result.rows)

    return jobs.every(ROLLUP_JOB, app.config["AICHAT_ROLLUP_INTERVAL"], run, claim=claim)
