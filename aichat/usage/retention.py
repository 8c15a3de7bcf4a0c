"""Retention: delete old usage log rows in batches, keeping the daily rollups of their days.

Before anything is deleted, every day about to lose its logs is rolled up again (so its stats
are current) and the prune horizon is recorded: the rollup never recomputes a day before it,
which would otherwise wipe that day's stats. Then rows go in batches, one short transaction
each, so the writer and readers are never blocked for long.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from aichat.models.usage import AIUsageLog

from .days import day_start, today
from .rollup import days_between, log_span, rollup_days, rollup_pending, set_pruned_before

_L = AIUsageLog.__table__.c
_AGE = re.compile(r"^\s*(\d{1,5})\s*d\s*$")


def parse_age(value: str) -> int:
    """'90d' -> 90; ValueError for anything but a whole number of days >= 1."""
    match = _AGE.match(value or "")
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"--older-than takes a whole number of days, at least 1, such as 90d (got {value!r})")
    return int(match.group(1))


@dataclass
class PrunePlan:
    cutoff_day: date  # the first local day kept
    cutoff: datetime  # its start (UTC): rows created before it go
    rows: int  # rows to delete
    days: list[date]  # local days losing logs (rolled up first)


def plan(engine: Engine, zone: ZoneInfo, older_than_days: int) -> PrunePlan:
    """What a prune would delete: every row before the start of the local day N days ago."""
    cutoff_day = today(zone) - timedelta(days=older_than_days)
    cutoff = day_start(cutoff_day, zone)
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).where(_L.created_at < cutoff)).scalar_one()
    span = log_span(engine, zone)
    days = [d for d, _ in days_between(span[0], cutoff_day - timedelta(days=1))] if span and rows else []
    return PrunePlan(cutoff_day, cutoff, rows, days)


def roll_up_before_prune(engine: Engine, zone: ZoneInfo, pruning: PrunePlan) -> None:
    """Make the rollups of the days about to be pruned current, then record the horizon."""
    rollup_pending(engine, zone)  # a time zone change, and the dirty days
    rollup_days(engine, zone, [(d, None) for d in pruning.days])
    set_pruned_before(engine, pruning.cutoff, zone)


def delete_batches(engine: Engine, cutoff: datetime, batch_size: int,
                   progress: Callable[[int], None] = lambda n: None) -> int:
    """Delete rows created before `cutoff`, `batch_size` per transaction; the rows deleted."""
    deleted = 0
    while True:
        with engine.begin() as conn:
            ids = select(_L.id).where(_L.created_at < cutoff).limit(batch_size).scalar_subquery()
            n = conn.execute(delete(AIUsageLog.__table__).where(_L.id.in_(ids))).rowcount
        deleted += n
        progress(n)
        if n < batch_size:
            return deleted
