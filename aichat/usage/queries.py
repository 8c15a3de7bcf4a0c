"""The queries behind the monitoring API: plain functions over a session, no Flask request objects.

Everything but recent errors reads the daily rollup (AIUsageStats), never the log, so a
90-day summary sums a few thousand rows however large the log is. Definitions:
- requests = client requests (first attempts); attempts = every upstream attempt.
- success_rate = successes / requests; failed_requests = requests - successes - cancelled.
- error_rate (per upstream) = errors / attempts: how often that upstream failed a try.
- upstream is a configured upstream's name (`openai`, `deepseek`, `gemini-eu` …); provider is
  its kind (`openai`, `gemini`, `demo`): the protocol it was spoken to in.
- estimated_share = estimated / attempts: the share of attempts whose tokens were estimated.
- cost: one exact decimal string per currency; attempts without a price are `unpriced`.
- latency: over successful attempts; average from the sums, min and max exact, percentiles
  from the histogram narrowed to them (see usage/histogram.py).
- site_domain filters: a site's domain means that site, by id, whatever domain its rows were
  written under (a renamed site keeps its history), and the rows that name the domain without
  belonging to another site: the local site's (whose rows name the page's host, or what its
  keys name), rows from before sites, and those of a removed site.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from aichat.models.tenancy import Site
from aichat.models.usage import LATENCY_COLUMNS, AIUsageLog, AIUsageStats
from aichat.providers.base import redact
from aichat.tenancy.directory import LOCAL_DOMAIN

from . import histogram
from .days import each_day, utc_iso

_S = AIUsageStats.__table__.c
_L = AIUsageLog.__table__.c
COUNTERS = ("attempts", "requests", "successes", "errors", "cancelled", "failovers", "streams",
            "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "unpriced", "estimated",
            "latency_sum_ms", "latency_count") + LATENCY_COLUMNS
TOP_MODELS = 10


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    zone: ZoneInfo

    def as_json(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "days": (self.last - self.first).days + 1, "timezone": self.zone.key}


def money_str(amount: Decimal) -> str:
    """An exact amount as a plain decimal string: no exponent, no trailing zeros ("0.00123", "12", "0")."""
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class _Totals:
    """Sums of the rollup's counters, with cost kept per currency."""

    def __init__(self):
        self.n = dict.fromkeys(COUNTERS, 0)
        self.cost: dict[str, Decimal] = defaultdict(Decimal)
        self.fastest: float | None = None
        self.slowest: float | None = None
        self.unbounded = 0  # rows with timed attempts but no min/max: rolled up before they were kept

    def add(self, row) -> None:
        for name in COUNTERS:
            # PostgreSQL sums BIGINT columns as NUMERIC: back to int (and float for the latency sum).
            value = getattr(row, name) or 0
            self.n[name] += float(value) if name == "latency_sum_ms" else int(value)
        if row.currency:
            self.cost[row.currency] += row.cost or Decimal(0)
        self._bound(row.latency_min_ms, row.latency_max_ms, int(row.latency_unbounded or 0))

    def merge(self, other: _Totals) -> _Totals:
        for name in COUNTERS:
            self.n[name] += other.n[name]
        for currency, amount in other.cost.items():
            self.cost[currency] += amount
        self._bound(other.fastest, other.slowest, other.unbounded)
        return self

    def _bound(self, fastest: float | None, slowest: float | None, unbounded: int) -> None:
        if fastest is not None:
            self.fastest = fastest if self.fastest is None else min(self.fastest, fastest)
            self.slowest = slowest if self.slowest is None else max(self.slowest, slowest)
        self.unbounded += unbounded

    def tokens(self) -> dict:
        n = self.n
        return {"prompt": n["prompt_tokens"], "cached": n["cached_tokens"], "completion": n["completion_tokens"],
                "reasoning": n["reasoning_tokens"], "total": n["prompt_tokens"] + n["completion_tokens"]}

    def costs(self) -> dict:
        return {currency: money_str(amount) for currency, amount in sorted(self.cost.items())}

    def latency(self, quantiles=histogram.QUANTILES) -> dict:
        counts = [self.n[c] for c in LATENCY_COLUMNS]
        # The bounds of only some rows would clamp the percentiles wrongly: they count only if every row has them.
        known = self.fastest is not None and not self.unbounded
        bounds = (self.fastest, self.slowest) if known else None
        return histogram.latency(counts, self.n["latency_sum_ms"], self.n["latency_count"], bounds, quantiles)


def site_filter(session: Session, columns, domain: str):
    """The condition selecting the usage of site `domain` in a table with site_id and site_domain columns."""
    owners = select(Site.id).where(Site.domain != LOCAL_DOMAIN)  # sites whose rows are theirs whatever they name
    by_name = and_(columns.site_domain == domain, or_(columns.site_id.is_(None), columns.site_id.not_in(owners)))
    site_id = session.execute(owners.where(Site.domain == domain)).scalar()
    return by_name if site_id is None else or_(columns.site_id == site_id, by_name)


def _grouped(session: Session, period: Period, keys: tuple, site_domain: str | None = None,
             caller: str | None = None, provider: str | None = None) -> dict[tuple, _Totals]:
    """Rollup sums over the period grouped by `keys` (stats column names), currency kept apart."""
    cols = [_S[k] for k in keys]
    unbounded = case((and_(_S.latency_count > 0, _S.latency_min_ms.is_(None)), 1), else_=0)
    query = (select(*cols, _S.currency, func.sum(_S.cost).label("cost"),
                    *(func.sum(_S[c]).label(c) for c in COUNTERS),
                    func.min(_S.latency_min_ms).label("latency_min_ms"),
                    func.max(_S.latency_max_ms).label("latency_max_ms"),
                    func.sum(unbounded).label("latency_unbounded"))
             .where(_S.day >= period.first, _S.day <= period.last)
             .group_by(*cols, _S.currency))
    if site_domain is not None:
        query = query.where(site_filter(session, _S, site_domain))
    for column, value in (("caller", caller), ("provider", provider)):
        if value is not None:
            query = query.where(_S[column] == value)
    out: dict[tuple, _Totals] = defaultdict(_Totals)
    for row in session.execute(query):
        out[tuple(getattr(row, k) for k in keys)].add(row)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def summary(session: Session, period: Period, site_domain: str | None = None, caller: str | None = None) -> dict:
    """Totals over the period: requests, outcomes, tokens, cost per currency, latency, top models."""
    # One pass over the rollup, by model; the totals are the sum of the models.
    models = _grouped(session, period, ("provider", "model"), site_domain, caller)
    total = _Totals()
    for t in models.values():
        total.merge(t)
    n = total.n
    ranked = sorted(models.items(), key=lambda kv: (-kv[1].n["requests"], -kv[1].n["attempts"], kv[0]))
    return {
        "period": period.as_json(),
        "requests": n["requests"],
        "attempts": n["attempts"],
        "successes": n["successes"],
        "errors": n["errors"],
        "cancelled": n["cancelled"],
        "failed_requests": n["requests"] - n["successes"] - n["cancelled"],
        "success_rate": _rate(n["successes"], n["requests"]),
        "failovers": n["failovers"],
        "streams": n["streams"],
        "tokens": total.tokens(),
        "cost": total.costs(),
        "unpriced": n["unpriced"],
        "estimated": n["estimated"],
        "estimated_share": _rate(n["estimated"], n["attempts"]),
        "latency": total.latency(),
        "top_models": [{"provider": provider, "model": model, "requests": t.n["requests"],
                        "attempts": t.n["attempts"], "tokens": t.tokens(), "cost": t.costs()}
                       for (provider, model), t in ranked[:TOP_MODELS]],
    }


def daily(session: Session, period: Period, site_domain: str | None = None) -> dict:
    """One point per local day of the period, oldest first; days without traffic are zeros."""
    by_day = _grouped(session, period, ("day",), site_domain)
    points = []
    for day in each_day(period.first, period.last):
        t = by_day.get((day,), _Totals())
        points.append({"day": day.isoformat(), "requests": t.n["requests"], "attempts": t.n["attempts"],
                       "successes": t.n["successes"], "errors": t.n["errors"], "failovers": t.n["failovers"],
                       "tokens": t.tokens(), "cost": t.costs(), "estimated": t.n["estimated"],
                       "unpriced": t.n["unpriced"], "latency": t.latency((("p95_ms", 0.95),))})
    return {"period": period.as_json(), "points": points}


def providers(session: Session, period: Period, live: dict[str, dict], site_domain: str | None = None) -> dict:
    """Per upstream over the period, with the live circuit state of each configured one.

    `live` maps a configured upstream's name to its kind, circuit and keys. One item per
    (upstream, kind): a name removed and added again as another kind keeps its old traffic
    apart, and only the item of its current kind is live. Configured upstreams without
    traffic are listed with zeros.
    """
    by_upstream = _grouped(session, period, ("upstream", "provider"), site_domain)
    names = sorted(set(by_upstream) | {(name, state["kind"]) for name, state in live.items()})
    rows = []
    for name, kind in names:
        t = by_upstream.get((name, kind), _Totals())
        n = t.n
        state = live.get(name)
        if state is not None and state["kind"] != kind:
            state = None
        rows.append({"upstream": name, "provider": kind, "attempts": n["attempts"], "requests": n["requests"],
                     "successes": n["successes"], "errors": n["errors"],
                     "error_rate": _rate(n["errors"], n["attempts"]),
                     "failovers": n["failovers"], "latency": t.latency((("p95_ms", 0.95),)), "tokens": t.tokens(),
                     "cost": t.costs(),
                     "live": None if state is None else {"scope": state.get("scope", "worker_process"),
                                                        "pid": os.getpid(),
                                                        "circuit": state["circuit"], "keys": state["keys"]}})
    return {"period": period.as_json(), "providers": rows}


def recent_errors(session: Session, limit: int, provider: str | None = None, site_domain: str | None = None,
                  upstream: str | None = None) -> dict:
    """The newest failed attempts from the log, error messages redacted again as they are read."""
    query = (select(_L.created_at, _L.request_id, _L.attempt, _L.upstream, _L.provider, _L.key_label,
                    _L.model_served, _L.model_requested, _L.http_status, _L.error_code, _L.error_message,
                    _L.site_domain, _L.endpoint)
             .where(_L.status == "error").order_by(_L.created_at.desc(), _L.id.desc()).limit(limit))
    if site_domain is not None:
        query = query.where(site_filter(session, _L, site_domain))
    for column, value in ((_L.provider, provider), (_L.upstream, upstream)):
        if value is not None:
            query = query.where(column == value)
    return {"errors": [{"time": utc_iso(r.created_at), "request_id": r.request_id, "attempt": r.attempt,
                        "upstream": r.upstream, "provider": r.provider, "key_label": r.key_label,
                        "model": r.model_served or r.model_requested,
                        "http_status": r.http_status, "error_code": r.error_code,
                        "error_message": redact(r.error_message) if r.error_message else None,
                        "site_domain": r.site_domain, "endpoint": r.endpoint}
                       for r in session.execute(query)]}


def caller_summary(session: Session, period: Period, caller: str | None, site_domain: str | None = None) -> dict:
    """The summary for one caller label (None: every caller), with the caller named."""
    return {"caller": caller, **summary(session, period, site_domain=site_domain, caller=caller)}
