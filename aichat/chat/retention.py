"""How long conversations are kept: each site's `retention_days` (None keeps them), applied by an hourly job.

A conversation not updated within its site's retention days is deleted with its messages. The delete is
idempotent and walks the (site_id, updated_at) index, so the job runs in every process like the audit prune:
a round that finds nothing costs one query per site with a retention.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from aichat.models import Conversation, Site

from .conversations import delete_where

log = logging.getLogger(__name__)

PRUNE_JOB = "conversation-retention"
PRUNE_INTERVAL = 3600.0  # seconds between rounds


def prune(session: Session, now: datetime | None = None) -> int:
    """Delete every conversation older than its site's retention; how many, committed."""
    now = now or datetime.now(timezone.utc)
    deleted = 0
    for site_id, days in session.execute(select(Site.id, Site.retention_days)
                                         .where(Site.retention_days.is_not(None))).all():
        cutoff = now - timedelta(days=days)
        deleted += delete_where(session, (Conversation.site_id == site_id) & (Conversation.updated_at < cutoff))
        session.commit()  # one site at a time: a large backlog never holds one long transaction
    return deleted


def add_prune(jobs, app):
    """The retention as a job of `jobs`, hourly, in every process."""

    def run() -> None:
        from aichat.extensions import db

        with app.app_context():
            deleted = prune(db.session)
        if deleted:
            log.info("deleted %d conversations past their site's retention", deleted)

    return jobs.every(PRUNE_JOB, PRUNE_INTERVAL, run)
