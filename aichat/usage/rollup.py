"""The daily rollup: AIUsageStats recomputed from AIUsageLog, one whole local day at a time.

Exact and idempotent: a day is recomputed in one transaction (delete its stats rows, then
INSERT … SELECT … GROUP BY over its logs), so running it twice, or from two processes at once,
leaves the same rows. Rollups are serialised per database: a transaction-scoped advisory lock
on PostgreSQL, a write transaction taken up front (BEGIN IMMEDIATE) on SQLite.

Which days: the batch writer marks each local day it writes rows for as dirty
(UsageDirtyDay, `version` bumped per batch, in the same transaction as the rows). The rollup
reads (day, version), recomputes the day, and clears the mark only if the version is still
the one it read: a batch written meanwhile leaves the day dirty for the next round.

Groups are (day, site, upstream, provider, model, caller, currency) with the site its id, upstream
the upstream's name, provider its kind, model = model_served ('' if NULL), caller = caller or '',
currency = currency or ''. A site's site_domain is its domain at the time of the rollup (once the
site is removed, the greatest of the domains its rows name), so a renamed domain does not split its
history. Rows of the local site (which serves pages of several hosts, as AICHAT_ALLOWED_ORIGINS did)
and rows without a site id (from before sites) are grouped by the domain they name too, and keep
it. Per group: attempts =
rows; requests = rows with attempt 1; successes/errors/cancelled by status; failovers, streams;
token sums; cost = SUM(cost) (NULLs skipped); unpriced = rows with no cost but with tokens;
estimated = rows with usage_source 'estimated'; latency sum, count, min, max and histogram over
successful attempts that have a latency (a row goes into the first bucket whose bound >= it;
min and max are NULL when there is none); time to first token sum, count and histogram (the same
buckets) over successful streamed attempts that have one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, delete, func, literal, literal_column, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from aichat.models.tenancy import Site
from aichat.models.usage import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, TTFT_COLUMNS, AIUsageLog, AIUsageStats
from aichat.models.usage import UsageDirtyDay, UsageRollupState
from aichat.tenancy.directory import LOCAL_DOMAIN

from .days import UTC, day_bounds, day_start, each_day, local_day, today

log = logging.getLogger(__name__)

_L = AIUsageLog.__table__.c
_SITE = Site.__table__
_STATS = AIUsageStats.__table__
_DIRTY = UsageDirtyDay.__table__
_STATE = UsageRollupState.__table__
STATE_TIMEZONE = "timezone"
STATE_PRUNED_BEFORE = "pruned_before"
STATE_LAST_ROUND = "background_round"  # when a process last started a background round


@dataclass
class RollupResult:
    days: int = 0  # days recomputed
    rows: int = 0  # stats rows written
    skipped: int = 0  # dirty days dropped because their logs were pruned


# --- marking days dirty (called by the batch writer, inside its transaction) ---------------

def mark_dirty(conn: Connection, days: Iterable[date]) -> None:
    """Insert or bump the dirty mark of each day, in the caller's transaction."""
    rows = [{"day": d, "version": 1} for d in sorted(set(days))]  # sorted: writers lock rows in one order
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_DIRTY).values(rows)
    conn.execute(stmt.on_conflict_do_update(index_elements=[_DIRTY.c.day],
                                            set_={"version": _DIRTY.c.version + 1}))


# --- one day --------------------------------------------------------------------------------

def _lock(conn: Connection) -> None:
    """Serialise rollups (and prunes) per database; released when the transaction ends."""
    if conn.dialect.name == "postgresql":
        # Keyed on the schema too, so installations sharing a database do not wait on each other.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.aichat-rollup'))"))
    elif conn.dialect.name == "sqlite":
        # Take the write lock before reading, so the logs read are the latest (busy_timeout waits for it).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _try_lock(conn: Connection) -> bool:
    """Take the rollup lock only if it is free now (the background rounds never queue for it)."""
    if conn.dialect.name == "postgresql":
        return bool(conn.execute(text(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.aichat-rollup'))")).scalar())
    if conn.dialect.name == "sqlite":
        # Under gevent a wait in SQLite's busy handler would stall every request of the worker.
        conn.exec_driver_sql("PRAGMA busy_timeout = 50")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError:
            return False
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout = 5000")
    return True


def claim_round(engine: Engine, min_gap: float) -> bool:
    """Whether this process should run a background round now.

    Every process that serves chat has a background loop; only one of them runs a round per
    `min_gap` seconds, and none waits while another is rolling up: the first to find the lock
    free and the last round older than `min_gap` records the time and goes ahead.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if not _try_lock(conn):
            return False
        last = _state(conn, STATE_LAST_ROUND)
        if last is not None and (now - datetime.fromisoformat(last)).total_seconds() < min_gap:
            return False
        _set_state(conn, STATE_LAST_ROUND, now.isoformat())
    return True


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _buckets(column, counted) -> list:
    """A histogram's counts: each counted row in the first bucket whose bound is >= its value."""
    out, lower = [], None
    for bound in LATENCY_BUCKETS_MS:
        within = column <= bound if lower is None else and_(column > lower, column <= bound)
        out.append(_count_if(and_(counted, within)))
        lower = bound
    out.append(_count_if(and_(counted, column > lower)))
    return out


def _aggregate(day: date, start: datetime, end: datetime):
    """INSERT INTO ai_usage_stats … SELECT … GROUP BY for the logs in [start, end)."""
    model = func.coalesce(_L.model_served, "")
    caller = func.coalesce(_L.caller, "")
    currency = func.coalesce(_L.currency, "")
    # A site's rows group by its id alone; the local site's, and rows without a site, by their domain too.
    by_name = case((or_(_L.site_id.is_(None), _SITE.c.domain == LOCAL_DOMAIN), _L.site_domain), else_="")
    timed = and_(_L.status == "success", _L.latency_ms.is_not(None))
    first_token = and_(_L.status == "success", _L.stream, _L.ttft_ms.is_not(None))
    values = {
        "day": literal(day, Date),
        "site_id": _L.site_id,
        "site_domain": func.coalesce(func.nullif(by_name, ""), _SITE.c.domain, func.max(_L.site_domain)),
        "upstream": _L.upstream, "provider": _L.provider, "model": model,
        "caller": caller, "currency": currency,
        "attempts": func.count(),
        "requests": _count_if(_L.attempt == 1),
        "successes": _count_if(_L.status == "success"),
        "errors": _count_if(_L.status == "error"),
        "cancelled": _count_if(_L.status == "cancelled"),
        "failovers": _count_if(_L.failed_over),
        "streams": _count_if(_L.stream),
        "prompt_tokens": func.sum(_L.prompt_tokens),
        "cached_tokens": func.sum(_L.cached_tokens),
        "completion_tokens": func.sum(_L.completion_tokens),
        "reasoning_tokens": func.sum(_L.reasoning_tokens),
        # Exact on both databases: NUMERIC on PostgreSQL, integer units on SQLite.
        "cost": func.coalesce(func.sum(_L.cost), literal_column("0")),
        "unpriced": _count_if(and_(_L.cost.is_(None), _L.prompt_tokens + _L.completion_tokens > 0)),
        "estimated": _count_if(_L.usage_source == "estimated"),
        "latency_sum_ms": func.sum(case((timed, _L.latency_ms), else_=literal_column("0.0"))),
        "latency_count": _count_if(timed),
        "latency_min_ms": func.min(case((timed, _L.latency_ms))),
        "latency_max_ms": func.max(case((timed, _L.latency_ms))),
        **dict(zip(LATENCY_COLUMNS, _buckets(_L.latency_ms, timed))),
        "ttft_sum_ms": func.sum(case((first_token, _L.ttft_ms), else_=literal_column("0.0"))),
        "ttft_count": _count_if(first_token),
        **dict(zip(TTFT_COLUMNS, _buckets(_L.ttft_ms, first_token))),
    }
    query = (select(*values.values())
             .select_from(AIUsageLog.__table__.outerjoin(_SITE, _SITE.c.id == _L.site_id))
             .where(_L.created_at >= start, _L.created_at < end)
             .group_by(_L.site_id, by_name, _SITE.c.domain, _L.upstream, _L.provider, model, caller, currency))
    # preserve_rowcount: drivers forget an INSERT's row count once its cursor is closed (psycopg does).
    return _STATS.insert().from_select(list(values), query).execution_options(preserve_rowcount=True)


def recompute_day(engine: Engine, day: date, zone: ZoneInfo, seen_version: int | None = None) -> int | None:
    """Recompute one local day's stats in one transaction; the rows written, or None if its logs were pruned.

    With `seen_version`, the day's dirty mark is cleared only if it still has that version.
    """
    start, end = day_bounds(day, zone)
    with engine.begin() as conn:
        _lock(conn)
        horizon = pruned_before(conn)
        if horizon is not None and start < horizon:
            _drop_mark(conn, day, seen_version)
            log.warning("usage rollup: not recomputing %s, its logs were pruned (before %s)", day,
                        horizon.isoformat())
            return None
        conn.execute(delete(_STATS).where(_STATS.c.day == day))
        written = conn.execute(_aggregate(day, start, end)).rowcount
        _drop_mark(conn, day, seen_version)
    return written


def _drop_mark(conn: Connection, day: date, version: int | None) -> None:
    if version is not None:
        conn.execute(delete(_DIRTY).where(_DIRTY.c.day == day, _DIRTY.c.version == version))


# --- many days ------------------------------------------------------------------------------

def dirty_days(engine: Engine) -> list[tuple[date, int]]:
    """The days marked dirty, oldest first, with the version each mark has now."""
    with engine.connect() as conn:
        return [(row.day, row.version) for row in conn.execute(select(_DIRTY).order_by(_DIRTY.c.day))]


def days_between(first: date, last: date) -> list[tuple[date, int | None]]:
    """Every day first..last, for recomputing whether or not it is marked."""
    return [(d, None) for d in each_day(first, last)]


def rollup_days(engine: Engine, zone: ZoneInfo, days: Iterable[tuple[date, int | None]]) -> RollupResult:
    """Recompute each (day, seen version); `days` may be a progress bar wrapping the list."""
    result = RollupResult()
    for day, version in days:
        written = recompute_day(engine, day, zone, version)
        if written is None:
            result.skipped += 1
        else:
            result.days += 1
            result.rows += written
    return result


def rollup_pending(engine: Engine, zone: ZoneInfo) -> RollupResult:
    """Bring the rollup up to date: a time zone change first, then every dirty day."""
    ensure_zone(engine, zone)
    return rollup_days(engine, zone, dirty_days(engine))


def log_span(engine: Engine, zone: ZoneInfo) -> tuple[date, date] | None:
    """The first and last local day any log row falls on, or None with no logs."""
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(_L.created_at), func.max(_L.created_at))).one()
    if first is None:
        return None
    return local_day(first, zone), local_day(last, zone)


def first_recomputable_day(engine: Engine, zone: ZoneInfo) -> date | None:
    """The first local day all of whose logs are kept (None: nothing was ever pruned)."""
    with engine.connect() as conn:
        return first_complete_day(pruned_before(conn), zone)


def days_with_logs(engine: Engine, zone: ZoneInfo, since: date | None = None) -> list[tuple[date, int | None]]:
    """Every day from `since` (default: the first day with logs) to today, for a full recompute.

    Days before the prune horizon are left out: their stats are all that is left of them.
    """
    span = log_span(engine, zone)
    first = since or (span[0] if span else today(zone))
    first = max(first, first_recomputable_day(engine, zone) or first)
    marks = dict(dirty_days(engine))  # a day recomputed here needs no second pass for its mark
    return [(d, marks.get(d)) for d, _ in days_between(first, max(today(zone), span[1] if span else first))]


# --- state: the zone the stats were cut in, and the prune horizon -----------------------------

def _state(conn: Connection, name: str) -> str | None:
    return conn.execute(select(_STATE.c.value).where(_STATE.c.name == name)).scalar_one_or_none()


def _set_state(conn: Connection, name: str, value: str) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(_STATE).values(name=name, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=[_STATE.c.name], set_={"value": value}))


def pruned_before(conn: Connection) -> datetime | None:
    """The instant before which logs were deleted (UTC), or None if they never were."""
    value = _state(conn, STATE_PRUNED_BEFORE)
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def first_complete_day(horizon: datetime | None, zone: ZoneInfo) -> date | None:
    """The first local day whose logs are all still there (None: no horizon)."""
    if horizon is None:
        return None
    day = local_day(horizon, zone)
    return day if day_start(day, zone) >= horizon else day + timedelta(days=1)


def set_pruned_before(engine: Engine, instant: datetime, zone: ZoneInfo) -> datetime:
    """Move the horizon forward to `instant` (never back) and drop dirty marks that lie before it."""
    with engine.begin() as conn:
        _lock(conn)
        current = pruned_before(conn)
        horizon = instant if current is None or instant > current else current
        _set_state(conn, STATE_PRUNED_BEFORE, horizon.astimezone(UTC).isoformat())
        first = first_complete_day(horizon, zone)
        dropped = conn.execute(delete(_DIRTY).where(_DIRTY.c.day < first)).rowcount
        if dropped:
            log.warning("usage rollup: dropped %d dirty marks of days before %s, whose logs are pruned",
                        dropped, first)
    return horizon


def ensure_zone(engine: Engine, zone: ZoneInfo) -> bool:
    """If the stats were cut in another zone, schedule every day still covered by logs for a rebuild.

    Stats of other days at or after the prune horizon are deleted; days before it keep the
    stats they have (their logs are gone). The very first rollup does the same, so logs written
    before rollups existed are rolled up too. Returns True when a rebuild was scheduled.
    """
    with engine.connect() as conn:
        if _state(conn, STATE_TIMEZONE) == zone.key:  # the usual case, without taking the lock
            return False
    with engine.begin() as conn:
        _lock(conn)
        recorded = _state(conn, STATE_TIMEZONE)
        if recorded == zone.key:
            return False
        _set_state(conn, STATE_TIMEZONE, zone.key)
        first_ok = first_complete_day(pruned_before(conn), zone) or date.min
        lo, hi = conn.execute(select(func.min(_L.created_at), func.max(_L.created_at))).one()
        stale = delete(_STATS).where(_STATS.c.day >= first_ok)
        days: list[date] = []
        if lo is not None:
            lo_day, hi_day = max(local_day(lo, zone), first_ok), local_day(hi, zone)
            stale = stale.where((_STATS.c.day < lo_day) | (_STATS.c.day > hi_day))
            days = list(each_day(lo_day, hi_day)) if lo_day <= hi_day else []
        conn.execute(stale)
        mark_dirty(conn, days)
    if recorded is None:
        log.info("usage rollup: first run in %s, rolling up %d days of existing logs", zone.key, len(days))
    else:
        log.warning("AICHAT_TIMEZONE is %s but the daily rollups were cut in %s: rebuilding %d days",
                    zone.key, recorded, len(days))
    return True
