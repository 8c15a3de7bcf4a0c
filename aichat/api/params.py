"""Query-string parameters of the monitoring API, checked strictly: anything off is a 400 naming the parameter."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from aichat.usage.days import parse_date

from .errors import ApiError

DAYS_RANGE = (1, 366)
LIMIT_RANGE = (1, 500)
TEXT_LENGTHS = {"site_domain": 255, "provider": 32, "upstream": 64, "caller": 128}  # the columns' lengths
_WHOLE = re.compile(r"[0-9]{1,6}")  # ASCII digits only, no sign, space or newline
# A filter value: any characters but controls (C0, DEL, C1), which no stored name holds and PostgreSQL's text
# refuses (NUL). The OpenAPI document declares this same pattern, so what it allows is what is accepted.
TEXT_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_TEXT = re.compile(TEXT_PATTERN)


def plain(value: str) -> bool:
    """Does `value` hold no control character (the console's filters ask the same as the API's)?"""
    return bool(_TEXT.match(value))
# YYYY-MM-DD with a year from 1970 to 9998 (usage.days: FIRST_DAY..LAST_DAY); the calendar checks the rest.
DATE_PATTERN = r"^(?:19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}$"


def invalid(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", message, param=name)


def integer(args: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]) -> int:
    """A whole number within bounds (inclusive); the default when absent."""
    raw = args.get(name)
    if raw is None:
        return default
    low, high = bounds
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= high:
        raise invalid(name, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def days(args: Mapping[str, str], default: int) -> int:
    return integer(args, "days", default, DAYS_RANGE)


def limit(args: Mapping[str, str], default: int) -> int:
    return integer(args, "limit", default, LIMIT_RANGE)


def text(args: Mapping[str, str], name: str) -> str | None:
    """An optional filter value: 1 to its column's length, no control characters."""
    raw = args.get(name)
    if raw is None:
        return None
    longest = TEXT_LENGTHS[name]
    if not 1 <= len(raw) <= longest or not _TEXT.match(raw):
        raise invalid(name, f"{name} must be 1 to {longest} characters, none of them a control character")
    return raw


def date_range(args: Mapping[str, str]) -> tuple[date, date]:
    """`from` and `to` (YYYY-MM-DD, local days, inclusive); `from` after `to` is a range of no days.

    Every pair the OpenAPI document allows is served: it cannot relate two parameters, so neither does this.
    An export streams the rows that exist, so a long range costs what it holds, not its length."""
    days = []
    for name in ("from", "to"):
        if args.get(name) is None:
            raise invalid(name, f"{name} is required (YYYY-MM-DD)")
        try:
            days.append(parse_date(args[name], name))
        except ValueError as exc:
            raise invalid(name, str(exc)) from None
    return days[0], days[1]
