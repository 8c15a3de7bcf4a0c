"""The console's log explorer: usage rows filtered, paged by keyset on (created_at, id), never by OFFSET.

A page reads at most PAGE_ROWS + 1 rows from one index range scan (two for the model filter, which
matches the requested or the served model), whichever page it is. The total is never counted over the
log: an exact count up to COUNT_CAP, then an estimate from the daily rollup where the rollup knows the
filters, else "more than COUNT_CAP". Cursors are signed, so a link's cursor cannot be forged or mangled
into a query the explorer did not make.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session

from aichat.models.usage import AIUsageLog, AIUsageStats

from . import export
from .days import day_bounds, each_day, local_day

PAGE_ROWS = 50
COUNT_CAP = 10_000
STATUSES = ("success", "error", "cancelled")
_STATUS_COLUMNS = {"success": "successes", "error": "errors", "cancelled": "cancelled"}
_CURSOR_SALT = "aichat.logs.cursor"
Log = AIUsageLog


@dataclass(frozen=True)
class Filters:
    """What the explorer shows: rows created in [start, end) (UTC) that match every filter given."""

    start: datetime
    end: datetime
    site: str | None = None
    upstream: str | None = None
    model: str | None = None  # requested or served
    status: str | None = None
    error_code: str | None = None
    caller: str | None = None
    request_id: str | None = None

    def given(self) -> set[str]:
        """The names of the filters set, besides the time range."""
        return {f.name for f in fields(self) if f.name not in ("start", "end") and getattr(self, f.name)}


@dataclass(frozen=True)
class Cursor:
    """A page boundary: the (created_at, id) of a row, and whether the page wanted is older or newer."""

    created_at: datetime
    id: int
    older: bool = True


@dataclass
class Page:
    rows: list  # AIUsageLog, newest first
    newer: Cursor | None  # where the newer page starts, None on the newest
    older: Cursor | None


@dataclass(frozen=True)
class Total:
    """How many rows match: exact (up to COUNT_CAP), estimated from the rollup, or only more than the cap."""

    count: int
    kind: str  # exact | estimated | more_than


def _branches(filters: Filters, cursor: Cursor | None = None) -> list[list]:
    """Lists of conditions whose union is the filter (past the cursor); each is one index range scan."""
    common = _span(filters, cursor)
    for name, column in (("site", Log.site_domain), ("upstream", Log.upstream), ("status", Log.status),
                         ("error_code", Log.error_code), ("caller", Log.caller),
                         ("request_id", Log.request_id)):
        if getattr(filters, name):
            common.append(column == getattr(filters, name))
    if not filters.model:
        return [common]
    # OR across two columns would sort; two index scans, whose rows are merged (once each), do not.
    return [common + [Log.model_requested == filters.model], common + [Log.model_served == filters.model]]


def _span(filters: Filters, cursor: Cursor | None) -> list:
    """The created_at conditions: the range, narrowed to the rows past the cursor in its direction.

    The cursor's bound replaces the range's end (older) or start (newer) rather than joining it: a
    database given two bounds on one side may scan from the looser one, from the newest row to the
    500th page, instead of starting at the cursor.
    """
    start, end = Log.created_at >= filters.start, Log.created_at < filters.end
    if cursor is None:
        return [start, end]
    at, row_id = cursor.created_at, cursor.id
    if cursor.older:
        if at >= filters.end:  # a cursor past the range (the range was changed): every row is older
            return [start, end]
        return [start, Log.created_at <= at, or_(Log.created_at < at, Log.id < row_id)]
    if at < filters.start:
        return [start, end]
    return [Log.created_at >= at, or_(Log.created_at > at, Log.id > row_id), end]


def _key(row) -> tuple:
    return _utc(row.created_at), row.id


def page_queries(filters: Filters, cursor: Cursor | None = None, size: int = PAGE_ROWS) -> list:
    """The queries a page runs: one per index scan, each reading at most size + 1 rows in index order."""
    older = cursor is None or cursor.older
    order = (Log.created_at.desc(), Log.id.desc()) if older else (Log.created_at.asc(), Log.id.asc())
    return [select(Log).where(*conditions).order_by(*order).limit(size + 1)
            for conditions in _branches(filters, cursor)]


def page(session: Session, filters: Filters, cursor: Cursor | None = None, size: int = PAGE_ROWS) -> Page:
    """One page of matching rows, newest first, at the cursor (the newest page without one)."""
    older = cursor is None or cursor.older
    found = {}
    for query in page_queries(filters, cursor, size):
        found.update((row.id, row) for row in session.scalars(query))
    found = list(found.values())
    found.sort(key=_key, reverse=older)
    more = len(found) > size
    rows = found[:size]
    if not older:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    first, last = rows[0], rows[-1]
    has_newer = cursor is not None and (older or more)
    has_older = (more if older else True)
    return Page(rows, Cursor(_utc(first.created_at), first.id, older=False) if has_newer else None,
                Cursor(_utc(last.created_at), last.id, older=True) if has_older else None)


def _utc(at: datetime) -> datetime:
    """An aware UTC instant (SQLite gives naive UTC datetimes back)."""
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def encode_cursor(cursor: Cursor, secret: str) -> str:
    """An opaque, signed token for a link."""
    return URLSafeSerializer(secret, salt=_CURSOR_SALT).dumps([_utc(cursor.created_at).isoformat(), cursor.id,
                                                                int(cursor.older)])


def decode_cursor(token: str, secret: str) -> Cursor:
    """The cursor a token holds; ValueError if it was not made here or was changed."""
    try:
        at, row_id, older = URLSafeSerializer(secret, salt=_CURSOR_SALT).loads(token)
        return Cursor(datetime.fromisoformat(at).astimezone(timezone.utc), int(row_id), bool(older))
    except (BadData, ValueError, TypeError) as exc:
        raise ValueError("this page link is damaged or was not made by this server") from exc


def total(session: Session, filters: Filters, zone: ZoneInfo) -> Total:
    """How many rows match, without counting the log past COUNT_CAP."""
    # Each scan stops after COUNT_CAP + 1 rows; the union counts a row both scans found once.
    scans = [select(Log.id).where(*conditions).limit(COUNT_CAP + 1).subquery() for conditions in _branches(filters)]
    ids = union(*(select(scan.c.id) for scan in scans)).subquery() if len(scans) > 1 else scans[0]
    count = session.execute(select(func.count()).select_from(ids)).scalar_one()
    if count <= COUNT_CAP:
        return Total(count, "exact")
    if filters.given() & {"model", "error_code", "request_id"}:
        return Total(COUNT_CAP, "more_than")  # the rollup has no error code or request id, and one model
    return Total(max(_estimate(session, filters, zone), COUNT_CAP + 1), "estimated")


def _estimate(session: Session, filters: Filters, zone: ZoneInfo) -> int:
    """The rollup's attempts on the range's days, each day's share by the part of it the range covers."""
    first, last = local_day(filters.start, zone), local_day(filters.end - timedelta(microseconds=1), zone)
    counted = getattr(AIUsageStats, _STATUS_COLUMNS.get(filters.status or "", "attempts"))
    query = (select(AIUsageStats.day, func.sum(counted)).where(AIUsageStats.day >= first, AIUsageStats.day <= last)
             .group_by(AIUsageStats.day))
    for name, column in (("site", AIUsageStats.site_domain), ("upstream", AIUsageStats.upstream)):
        if getattr(filters, name):
            query = query.where(column == getattr(filters, name))
    if filters.caller:
        query = query.where(AIUsageStats.caller == filters.caller)
    per_day = dict(session.execute(query).all())
    estimate = 0.0
    for day in each_day(first, last):
        start, end = day_bounds(day, zone)
        covered = min(end, filters.end) - max(start, filters.start)
        estimate += (per_day.get(day) or 0) * max(covered / (end - start), 0.0)
    return round(estimate)


def attempts(session: Session, request_ids: list[str]) -> dict[str, list]:
    """Every attempt of these requests, by request id, in attempt order: each request's failover path."""
    if not request_ids:
        return {}
    query = (select(Log.id, Log.request_id, Log.attempt, Log.upstream, Log.status, Log.error_code)
             .where(Log.request_id.in_(set(request_ids))).order_by(Log.request_id, Log.attempt, Log.id))
    paths: dict[str, list] = {}
    for row in session.execute(query):
        paths.setdefault(row.request_id, []).append(row)
    return paths


def grouped(rows: list) -> list[list]:
    """The page's rows by request, in the order each request first appears (its attempts together)."""
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.request_id, []).append(row)
    return list(groups.values())


MAX_ROW_ID = 2**63 - 1


def row(session: Session, row_id: int):
    """One log row, or None (also for an id no row can have: the databases refuse numbers past 64 bits)."""
    if not 0 < row_id <= MAX_ROW_ID:
        return None
    return session.get(Log, row_id)


def export_csv(session: Session, filters: Filters) -> Iterator[str]:
    """Every matching row, oldest first, as CSV text (the columns of `flask usage export logs`)."""
    matching = or_(*(and_(*conditions) for conditions in _branches(filters)))
    return export.log_rows_csv(session, matching)


@dataclass
class Explored:
    """What the explorer page shows: the page, its rows by request, each request's path, and the total."""

    page: Page
    groups: list[list]
    paths: dict[str, list]
    total: Total


def explore(session: Session, filters: Filters, cursor: Cursor | None, zone: ZoneInfo) -> Explored:
    """A page of the log with its requests' failover paths and the (approximate) total."""
    found = page(session, filters, cursor)
    groups = grouped(found.rows)
    return Explored(found, groups, attempts(session, [g[0].request_id for g in groups]),
                    total(session, filters, zone))
