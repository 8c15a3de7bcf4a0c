"""The period picker the console's pages share: today, 7, 30 or 90 days, or a custom range; and a site.

Days are local days in AICHAT_TIMEZONE, as the rollup cuts them. A bad value never fails the page: the
picker falls back to the default period and says which field was wrong, next to that field.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping

from flask_babel import lazy_gettext as _l

from aichat.usage.days import MAX_RANGE_DAYS, parse_date, today, usage_zone
from aichat.usage.queries import Period

PRESETS = {"today": 1, "7": 7, "30": 30, "90": 90}
PRESET_LABELS = {"today": _l("Today"), "7": _l("7 days"), "30": _l("30 days"), "90": _l("90 days"),
                 "custom": _l("Custom")}
# A custom range may be longer than the API's: the console's charts read the rollup, a year and a bit is cheap.
MAX_DAYS = max(MAX_RANGE_DAYS, 3 * 366)


@dataclass(frozen=True)
class Choice:
    """What the picker chose: a preset (or 'custom'), its local days, a site (None: all), and what was wrong."""

    preset: str
    period: Period
    site: str | None = None
    errors: dict = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.period.last - self.period.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one: what changes are measured against."""
        last = self.period.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last, self.period.zone)

    def args(self, **more) -> dict:
        """Query arguments that choose this again (for links, paging and CSV downloads)."""
        out = {"period": self.preset}
        if self.preset == "custom":
            out.update({"from": self.period.first.isoformat(), "to": self.period.last.isoformat()})
        if self.site:
            out["site"] = self.site
        out.update({k: v for k, v in more.items() if v not in (None, "")})
        return out


def _date(text: str | None) -> date | None:
    try:
        return parse_date((text or "").strip(), "date")
    except ValueError:
        return None


def choose(args: Mapping[str, str], config, default: str = "7", sites: set[str] | None = None) -> Choice:
    """The period and site a page's query string asks for; unknown values fall back with an error per field."""
    zone = usage_zone(config)
    now, errors = today(zone), {}
    preset = args.get("period") or default
    site = (args.get("site") or "").strip()[:255] or None
    if site is not None and sites is not None and site not in sites:
        errors["site"], site = _l("No site has this domain."), None
    if preset == "custom":
        first, last = _date(args.get("from")), _date(args.get("to"))
        if first is None:
            errors["from"] = _l("Enter a date as YYYY-MM-DD.")
        if last is None:
            errors["to"] = _l("Enter a date as YYYY-MM-DD.")
        if first and last and first > last:
            errors["to"] = _l("The end is before the start.")
        elif first and last and (last - first).days + 1 > MAX_DAYS:
            errors["to"] = _l("At most %(days)d days at a time.", days=MAX_DAYS)
        if not errors.keys() & {"from", "to"}:
            return Choice("custom", Period(first, last, zone), site, errors)
        preset = default
    elif preset not in PRESETS:
        errors["period"], preset = _l("Choose one of the periods offered."), default
    days = PRESETS[preset]
    return Choice(preset, Period(now - timedelta(days=days - 1), now, zone), site, errors)
