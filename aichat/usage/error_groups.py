"""Recent errors grouped by upstream and error code: how many, first and last seen, and a sample message."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aichat.models.usage import AIUsageLog as Log
from aichat.providers.base import redact

MAX_GROUPS = 100


@dataclass(frozen=True)
class ErrorGroup:
    upstream: str
    error_code: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: str | None  # the latest message, redacted again as it is read


def error_groups(session: Session, start: datetime, end: datetime, limit: int = MAX_GROUPS) -> list[ErrorGroup]:
    """Errors created in [start, end) by (upstream, error code), most frequent first."""
    count = func.count()
    query = (select(Log.upstream, Log.error_code, count, func.min(Log.created_at), func.max(Log.created_at))
             .where(Log.status == "error", Log.created_at >= start, Log.created_at < end)
             .group_by(Log.upstream, Log.error_code).order_by(count.desc(), Log.upstream, Log.error_code)
             .limit(limit))
    return [ErrorGroup(upstream, code, n, first, last, _sample(session, upstream, code, start, end))
            for upstream, code, n, first, last in session.execute(query).all()]


def _sample(session: Session, upstream: str, code: str | None, start: datetime, end: datetime) -> str | None:
    """The group's latest message: one row read backwards from the error code's (or status's) index."""
    query = (select(Log.error_message)
             .where(Log.status == "error", Log.upstream == upstream, Log.created_at >= start, Log.created_at < end,
                    Log.error_code == code if code is not None else Log.error_code.is_(None))
             .order_by(Log.created_at.desc(), Log.id.desc()).limit(1))
    message = session.execute(query).scalar()
    return redact(message) if message else None
