"""Cost analysis: a period's cost by site, upstream, model or client key, from the daily rollup.

Each row keeps its cost per currency (amounts in different currencies are never added); its share
is of the period's total in that currency, its change against the same row's cost in the previous
period. unpriced counts attempts that used tokens with no price known (no cost recorded: the cost
shown is lower than the real one); estimated counts attempts whose tokens were counted by aichat
because the upstream did not report them (their cost is an estimate).
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from .dashboard import change, key_names, site_names, site_of, sums
from .queries import Period, money_str

DIMENSIONS = {"site": ("site_id", "site_domain"), "upstream": ("upstream",), "model": ("model",),
              "key": ("caller",)}
COUNTS = ("requests", "attempts", "prompt_tokens", "completion_tokens", "unpriced", "estimated")
SORTS = ("name", "requests", "tokens", "cost", "share", "change", "unpriced", "estimated")
DEFAULT_SORT = ("cost", "desc")


@dataclass
class CostRow:
    """One site, upstream, model or client key: its counts, and its cost, share and change per currency."""

    key: str  # the domain, upstream, model ('' unknown) or caller label ('' browsers, no client key)
    name: str = ""  # a client key's name, where it still exists and has one
    requests: int = 0
    attempts: int = 0
    tokens: int = 0
    unpriced: int = 0
    estimated: int = 0
    cost: dict[str, Decimal] = field(default_factory=dict)
    previous: dict[str, Decimal] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    change: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Breakdown:
    by: str
    rows: list[CostRow]
    total: CostRow  # the sum of the rows (key '')

    @property
    def currencies(self) -> list[str]:
        return sorted(self.total.cost)


def _label(by: str, row, sites: dict[int, str]) -> str:
    return site_of(sites, row.site_id, row.site_domain) if by == "site" else getattr(row, DIMENSIONS[by][0])


def breakdown(session: Session, by: str, period: Period, previous: Period, site_domain: str | None = None) -> Breakdown:
    """The period's cost by one dimension (a key of DIMENSIONS), with shares and changes, in no particular order."""
    keys = DIMENSIONS[by]
    sites = site_names(session) if by == "site" else {}
    rows: dict[str, CostRow] = {}
    total = CostRow("")
    for row in sums(session, period, (*keys, "currency"), (*COUNTS, "cost"), site_domain):
        label = _label(by, row, sites)
        item = rows.setdefault(label, CostRow(label))
        for target in (item, total):
            target.requests += int(row.requests or 0)
            target.attempts += int(row.attempts or 0)
            target.tokens += int(row.prompt_tokens or 0) + int(row.completion_tokens or 0)
            target.unpriced += int(row.unpriced or 0)
            target.estimated += int(row.estimated or 0)
            if row.currency:
                target.cost[row.currency] = target.cost.get(row.currency, Decimal(0)) + (row.cost or Decimal(0))
    before: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in sums(session, previous, (*keys, "currency"), ("cost",), site_domain):
        if row.currency:
            before[_label(by, row, sites)][row.currency] += row.cost or Decimal(0)
            total.previous[row.currency] = total.previous.get(row.currency, Decimal(0)) + (row.cost or Decimal(0))
    names = key_names(session) if by == "key" else {}
    for item in (*rows.values(), total):
        if item is not total:
            item.name = names.get(item.key, "")
            item.previous = dict(before.get(item.key, {}))
        item.share = {c: float(a / total.cost[c]) if total.cost[c] else 0.0 for c, a in item.cost.items()}
        item.change = {c: change(a, item.previous.get(c)) for c, a in item.cost.items()}
    return Breakdown(by, list(rows.values()), total)


def sort_rows(result: Breakdown, column: str, direction: str) -> list[CostRow]:
    """The rows sorted by a column of SORTS, ties by key.

    Cost compares currency by currency in code order (amounts in two currencies are not comparable);
    share and change, being ratios, compare by a row's largest one. A row with no change to show
    (nothing before) sorts after every number, whichever the direction.
    """
    currencies = result.currencies
    none_last = float("-inf") if direction == "desc" else float("inf")

    def largest(values: dict) -> float:
        known = [v for v in values.values() if v is not None]
        return max(known) if known else none_last

    keys = {
        "name": lambda r: ((r.name or r.key).casefold(), r.key),
        "requests": lambda r: r.requests, "tokens": lambda r: r.tokens,
        "cost": lambda r: tuple(r.cost.get(c, Decimal(0)) for c in currencies),
        "share": lambda r: largest(r.share), "change": lambda r: largest(r.change),
        "unpriced": lambda r: r.unpriced, "estimated": lambda r: r.estimated,
    }
    ordered = sorted(result.rows, key=lambda r: r.key)  # a stable sort keeps this order among ties
    return sorted(ordered, key=keys[column], reverse=direction == "desc")


def choose_sort(column: str | None, direction: str | None) -> tuple[str, str]:
    """The sort a query string asks for, or the default (cost, largest first) for anything else."""
    if column not in SORTS:
        return DEFAULT_SORT
    return column, direction if direction in ("asc", "desc") else ("asc" if column == "name" else "desc")


CSV_HEADER = ("dimension", "key", "name", "currency", "cost", "share", "previous_cost", "change", "requests",
              "attempts", "tokens", "unpriced", "estimated")


def _cell(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula (a model or key name could start with '=')."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(result: Breakdown, rows: list[CostRow]) -> Iterator[str]:
    """The breakdown as CSV lines: one per row and currency (a row without cost: one line, currency empty);
    a row's counts are repeated on each of its lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    for row in rows:
        for currency in sorted(row.cost) or [""]:
            cost = row.cost.get(currency)
            previous = row.previous.get(currency)
            ratio = row.change.get(currency)
            yield line((result.by, _cell(row.key), _cell(row.name), currency, "" if cost is None else money_str(cost),
                        "" if cost is None else f"{row.share[currency]:.6f}",
                        "" if previous is None else money_str(previous), "" if ratio is None else f"{ratio:.6f}",
                        row.requests, row.attempts, row.tokens, row.unpriced, row.estimated))
