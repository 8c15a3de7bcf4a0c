"""Query-string parameters of the monitoring API, checked strictly: anything off is a 400 naming the parameter."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from aichat.usage.days import parse_range

from .errors import ApiError

DAYS_RANGE = (1, 366)
LIMIT_RANGE = (1, 500)
TEXT_LENGTHS = {"site_domain": 255, "provider": 32, "upstream": 64, "caller": 128}  # the columns' lengths
_WHOLE = re.compile(r"[0-9]{1,6}")  # ASCII digits only, no sign, space or newline


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
    """An optional filter value: 1 to its column's length, printable characters only."""
    raw = args.get(name)
    if raw is None:
        return None
    longest = TEXT_LENGTHS[name]
    if not 1 <= len(raw) <= longest or not raw.isprintable():
        raise invalid(name, f"{name} must be 1 to {longest} printable characters")
    return raw


def date_range(args: Mapping[str, str]) -> tuple[date, date]:
    """`from` and `to` (YYYY-MM-DD, local days, inclusive): from <= to, at most 366 days."""
    for name in ("from", "to"):
        if args.get(name) is None:
            raise invalid(name, f"{name} is required (YYYY-MM-DD)")
    try:
        return parse_range(args["from"], args["to"])
    except ValueError as exc:
        name = str(exc).split(" ", 1)[0]
        raise invalid(name if name in ("from", "to") else "from", str(exc)) from None
