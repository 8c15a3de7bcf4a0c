"""The log explorer's and errors page's query string: a time range (presets or custom) and the filters.

The range is required: a preset (the last hour, 24 hours, 7 or 30 days) or custom from/to times in
AICHAT_TIMEZONE. A bad value never fails the page: it falls back to the default and says which field
was wrong, next to that field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Mapping
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from aichat.api.params import plain
from aichat.usage.days import FIRST_DAY, LAST_DAY
from aichat.usage.explorer import STATUSES, Filters

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_LABELS = {"1h": _l("Last hour"), "24h": _l("Last 24 hours"), "7d": _l("Last 7 days"),
                "30d": _l("Last 30 days"), "custom": _l("Custom")}
DEFAULT_RANGE = "24h"
# Text filters and their longest values (the columns' lengths).
TEXT_FILTERS = {"site": 255, "upstream": 64, "model": 128, "error_code": 64, "caller": 128, "request_id": 64}
CONTROL_CHARACTER = _l("No control characters: no stored name holds one.")
STATUS_LABELS = {"success": _l("Success"), "error": _l("Error"), "cancelled": _l("Cancelled")}
_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


@dataclass
class Query:
    """The parsed query string: the filters to apply, the text to show in each field, and each field's error."""

    range: str
    filters: Filters
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def range_args(self, **more) -> dict:
        """Query arguments that choose this time range again, and the filters in `more` that are set."""
        out = {"range": self.range}
        if self.range == "custom":
            out.update({"from": self.values["from"], "to": self.values["to"]})
        return out | {k: v for k, v in more.items() if v not in (None, "")}

    def args(self, **more) -> dict:
        """Query arguments that choose this again (for paging links, the CSV link and the errors page's links)."""
        out = self.range_args()
        out.update({name: self.values[name] for name in (*TEXT_FILTERS, "status") if self.values.get(name)})
        out.update({k: v for k, v in more.items() if v not in (None, "")})
        return out


def _local(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if not FIRST_DAY <= value.date() <= LAST_DAY:  # far enough inside datetime's range to shift by a zone
        return None
    return value.replace(tzinfo=zone).astimezone(timezone.utc) if value.tzinfo is None else None


def _shown(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime(_FORMAT)


def parse(args: Mapping[str, str], zone: ZoneInfo, now: datetime) -> Query:
    """The range and filters `args` ask for; a bad field is reported and left out (the range falls back)."""
    errors, values, chosen = {}, {}, {}
    for name, longest in TEXT_FILTERS.items():
        text = (args.get(name) or "").strip()
        values[name] = text[:longest * 2]
        if len(text) > longest:
            errors[name] = _l("At most %(n)d characters.", n=longest)
        elif not plain(text):
            errors[name] = CONTROL_CHARACTER
        elif text:
            chosen[name] = text
    status = (args.get("status") or "").strip()
    values["status"] = status if status in STATUSES else ""
    if status and status not in STATUSES:
        errors["status"] = _l("Choose one of the statuses offered.")
    elif status:
        chosen["status"] = status
    preset = args.get("range") or DEFAULT_RANGE
    start = end = None
    if preset == "custom":
        values["from"], values["to"] = (args.get("from") or "")[:40], (args.get("to") or "")[:40]
        start, end = _local(values["from"], zone), _local(values["to"], zone)
        if start is None:
            errors["from"] = _l("Enter a date and time as YYYY-MM-DD HH:MM.")
        if end is None:
            errors["to"] = _l("Enter a date and time as YYYY-MM-DD HH:MM.")
        elif start is not None and end <= start:
            errors["to"] = _l("The end is before the start.")
        if errors.keys() & {"from", "to"}:
            preset, start = DEFAULT_RANGE, None
    elif preset not in RANGES:
        errors["range"], preset = _l("Choose one of the ranges offered."), DEFAULT_RANGE
    if start is None:
        start, end = now - RANGES[preset], now
        values["from"], values["to"] = _shown(start, zone), _shown(end, zone)
    return Query(preset, Filters(start, end, **chosen), values, errors)
