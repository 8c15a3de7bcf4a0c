"""CSV exports of the usage log and the daily rollup, streamed.

Each export is a generator of CSV text: the header, then rows fetched from the database in
chunks (yield_per: a server-side cursor on PostgreSQL), so no export holds a whole table in
memory. The monitoring API streams it as a response; `flask usage export` writes it to a file.
Error messages are redacted again on the way out. Text cells that a spreadsheet would read as
a formula (starting with = + - @) get a leading apostrophe.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from aichat.models.usage import LATENCY_COLUMNS, AIUsageLog, AIUsageStats
from aichat.providers.base import redact

from .days import range_bounds, utc_iso
from .queries import money_str

CHUNK = 2000
LOG_COLUMNS = ("created_at", "request_id", "attempt", "site_domain", "caller", "endpoint", "upstream", "provider",
               "key_label", "model_requested", "model_served", "stream", "status", "http_status", "error_code",
               "error_message", "failed_over", "prompt_tokens", "cached_tokens", "completion_tokens",
               "reasoning_tokens", "total_tokens", "usage_source", "cost", "currency", "latency_ms", "ttft_ms",
               "site_id", "conversation_id")  # columns added later go at the end: readers by position keep working
DAILY_COLUMNS = ("day", "site_domain", "upstream", "provider", "model", "caller", "currency", "attempts",
                 "requests", "successes", "errors", "cancelled", "failovers", "streams", "prompt_tokens",
                 "cached_tokens", "completion_tokens", "reasoning_tokens", "cost", "unpriced", "estimated",
                 "latency_sum_ms", "latency_count", "latency_min_ms", "latency_max_ms") + LATENCY_COLUMNS + (
                     "site_id",)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    return value


class _Lines:
    """csv.writer into a buffer that is emptied once per chunk."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def _stream(session: Session, query, header: tuple[str, ...], convert) -> Iterator[str]:
    out = _Lines()
    out.writer.writerow(header)
    yield out.take()
    result = session.execute(query.execution_options(yield_per=CHUNK))
    for chunk in result.partitions():
        for row in chunk:
            out.writer.writerow([_cell(v) for v in convert(row)])
        yield out.take()


def _log_values(row) -> list:
    values = []
    for name in LOG_COLUMNS:
        value = getattr(row, name)
        if name == "created_at":
            value = utc_iso(value)
        elif name == "cost" and value is not None:
            value = money_str(value)
        elif name == "error_message" and value:
            value = redact(value)
        values.append(value)
    return values


def log_csv(session: Session, first: date, last: date, zone: ZoneInfo) -> Iterator[str]:
    """Every log row created on local days first..last, oldest first, as CSV text."""
    start, end = range_bounds(first, last, zone)
    return log_rows_csv(session, and_(AIUsageLog.created_at >= start, AIUsageLog.created_at < end))


def log_rows_csv(session: Session, where) -> Iterator[str]:
    """Every log row matching `where`, oldest first, as CSV text (the console's explorer exports this way)."""
    table = AIUsageLog.__table__
    query = (select(*(table.c[name] for name in LOG_COLUMNS)).where(where)
             .order_by(table.c.created_at, table.c.id))
    return _stream(session, query, LOG_COLUMNS, _log_values)


def _daily_values(row) -> list:
    return [row.day.isoformat() if name == "day" else money_str(row.cost) if name == "cost" else getattr(row, name)
            for name in DAILY_COLUMNS]


def daily_csv(session: Session, first: date, last: date) -> Iterator[str]:
    """The rollup's rows for local days first..last, by day, site, upstream, provider, model, caller, currency."""
    table = AIUsageStats.__table__
    query = (select(*(table.c[name] for name in DAILY_COLUMNS))
             .where(table.c.day >= first, table.c.day <= last)
             .order_by(table.c.day, table.c.site_domain, table.c.upstream, table.c.provider, table.c.model,
                       table.c.caller, table.c.currency))
    return _stream(session, query, DAILY_COLUMNS, _daily_values)
