"""Calendar days in AICHAT_TIMEZONE, and the UTC instants that bound them.

Rollups, summaries and exports all count in local days. A day's bounds are computed here in
Python with zoneinfo, so days of 23 or 25 hours (DST changes) come out right, and are handed
to the database as UTC instants: SQLite keeps `created_at` as naive UTC text, PostgreSQL as
timestamptz, and a UTC datetime compares correctly with both.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
MAX_RANGE_DAYS = 366
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Dates a caller may name: far enough inside datetime's range that a day's UTC bounds exist in every zone.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def usage_zone(config) -> ZoneInfo:
    """The zone days are cut in (AICHAT_TIMEZONE); a clear error for a name zoneinfo does not know."""
    name = str(config.get("AICHAT_TIMEZONE") or "UTC").strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"AICHAT_TIMEZONE: unknown time zone {name!r} (use an IANA name such as "
                         f"'UTC' or 'Asia/Shanghai')") from None


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant local `day` begins (where midnight is skipped, the first instant that exists)."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of local `day` as UTC instants."""
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)


def range_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local days first..last (inclusive) as UTC instants."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    """The local day an instant falls on; a naive datetime is taken as UTC (that is how SQLite returns it)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone).date()


def utc_iso(instant: datetime) -> str:
    """An instant as ISO 8601 in UTC with a Z; naive datetimes are UTC (SQLite)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def today(zone: ZoneInfo) -> date:
    return datetime.now(UTC).astimezone(zone).date()


def last_days(days: int, zone: ZoneInfo) -> tuple[date, date]:
    """The `days` local days ending today, as (first, last)."""
    last = today(zone)
    return last - timedelta(days=days - 1), last


def each_day(first: date, last: date):
    """first, first+1, …, last."""
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def parse_date(value: str, name: str) -> date:
    """A strict YYYY-MM-DD date from FIRST_DAY to LAST_DAY; ValueError naming the parameter otherwise."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{name} must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} is not a calendar date: {value}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{name} must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def parse_range(start: str, end: str) -> tuple[date, date]:
    """An inclusive range of local days from two YYYY-MM-DD strings: from <= to, at most 366 days."""
    first, last = parse_date(start, "from"), parse_date(end, "to")
    if first > last:
        raise ValueError("from must not be after to")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"from..to covers more than {MAX_RANGE_DAYS} days")
    return first, last
