"""The console dashboard's numbers and charts: plain functions over a session, reading the daily rollup only.

Headline numbers are the monitoring summary's definitions (usage/queries.py) for a period and for the
period before it. Time to first token comes from its own histogram in the rollup, over successful
streamed attempts; a period that includes stats rolled up before that histogram was kept (ttft_count
NULL on a row with streams) has unknown percentiles, reported as None rather than as a number drawn
from part of the traffic. The charts' queries sum only the columns each chart draws, so a year of
rollup rows is a few small GROUP BYs.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from aichat.models.tenancy import ClientKey, Site
from aichat.models.usage import LATENCY_COLUMNS, TTFT_COLUMNS, AIUsageStats
from aichat.tenancy.directory import LOCAL_DOMAIN

from . import histogram
from .days import each_day
from .queries import Period, _grouped, _rate, _Totals, money_str, site_filter

_S = AIUsageStats.__table__.c
TOP_MODELS = 12
PERCENTILES = (("p50_ms", 0.5), ("p95_ms", 0.95))


def sums(session: Session, period: Period, keys: tuple, columns: tuple, site_domain: str | None = None,
         extra: dict | None = None) -> list:
    """Rows of `keys` with the sum of each stats column in `columns` over the period, and each `extra` aggregate."""
    exprs = [func.sum(_S[c]).label(c) for c in columns]
    exprs += [e.label(name) for name, e in (extra or {}).items()]
    query = (select(*(_S[k] for k in keys), *exprs)
             .where(_S.day >= period.first, _S.day <= period.last).group_by(*(_S[k] for k in keys)))
    if site_domain is not None:
        query = query.where(site_filter(session, _S, site_domain))
    return session.execute(query).all()


def site_names(session: Session) -> dict[int, str]:
    """Each site's domain today by id (not the local site's: its rows keep the host they name)."""
    return dict(session.execute(select(Site.id, Site.domain).where(Site.domain != LOCAL_DOMAIN)).all())


def site_of(names: dict[int, str], site_id: int | None, site_domain: str) -> str:
    """The domain to show a rollup row under: its site's domain today, or the domain the row names."""
    return names.get(site_id, site_domain) if site_id is not None else site_domain


def known_sites(session: Session) -> list[str]:
    """Domains the site picker offers: every site, and every domain the rollup names."""
    stored = session.execute(select(Site.domain)).scalars()
    named = session.execute(select(_S.site_domain).distinct()).scalars()
    return sorted(set(stored) | set(named))


def key_names(session: Session) -> dict[str, str]:
    """A client key's name by the label usage rows give it (its prefix), for keys that still exist and have one."""
    return {prefix: name for prefix, name in session.execute(select(ClientKey.prefix, ClientKey.name)) if name}


# --- time to first token ---------------------------------------------------------------------

_UNMEASURED = func.sum(case((and_(_S.ttft_count.is_(None), _S.streams > 0), 1), else_=0))
FIRST_TOKEN_SUMS = TTFT_COLUMNS + ("ttft_sum_ms", "ttft_count")


@dataclass
class FirstToken:
    """A time-to-first-token histogram and whether part of it is missing (rolled up before it was kept)."""

    counts: list = field(default_factory=lambda: [0] * len(TTFT_COLUMNS))
    total_ms: float = 0.0
    count: int = 0
    unmeasured: int = 0

    def add(self, row) -> None:
        self.counts = [a + int(getattr(row, c) or 0) for a, c in zip(self.counts, TTFT_COLUMNS)]
        self.total_ms += float(row.ttft_sum_ms or 0)
        self.count += int(row.ttft_count or 0)
        self.unmeasured += int(row.unmeasured or 0)

    def percentiles(self) -> dict:
        """p50_ms and p95_ms, None when unknown or without streams; `known` says which."""
        known = not self.unmeasured
        out = {name: histogram.percentile(self.counts, q) if known else None for name, q in PERCENTILES}
        return {**out, "count": self.count, "known": known}


def first_token(session: Session, period: Period, keys: tuple = (), site_domain: str | None = None):
    """FirstToken per value of `keys` over the period."""
    out: dict[tuple, FirstToken] = defaultdict(FirstToken)
    for row in sums(session, period, keys, FIRST_TOKEN_SUMS, site_domain, {"unmeasured": _UNMEASURED}):
        out[tuple(getattr(row, k) for k in keys)].add(row)
    return out


# --- headline numbers ------------------------------------------------------------------------

def _headline(session: Session, period: Period, site_domain: str | None) -> dict:
    total = _Totals()
    for t in _grouped(session, period, (), site_domain).values():
        total.merge(t)
    n = total.n
    latency = total.latency(PERCENTILES)
    return {"requests": n["requests"], "successes": n["successes"],
            "success_rate": _rate(n["successes"], n["requests"]),
            "tokens": total.tokens()["total"], "cost": dict(total.cost), "failovers": n["failovers"],
            "latency_p50_ms": latency["p50_ms"], "latency_p95_ms": latency["p95_ms"],
            "ttft": first_token(session, period, (), site_domain)[()].percentiles(),
            "unpriced": n["unpriced"], "estimated": n["estimated"]}


def change(now, before) -> float | None:
    """The relative change from `before` to `now` (0.25: a quarter more); None when there is nothing to compare."""
    if now is None or before is None or not before:
        return None
    return float((Decimal(str(now)) - Decimal(str(before))) / Decimal(str(before)))


def headline(session: Session, period: Period, previous: Period, site_domain: str | None = None) -> dict:
    """The period's headline numbers, those of the previous period, and the change of each."""
    now, before = _headline(session, period, site_domain), _headline(session, previous, site_domain)
    changes = {name: change(now[name], before[name])
               for name in ("requests", "tokens", "failovers", "latency_p50_ms", "latency_p95_ms")}
    # A rate's change is the difference in points: 0.95 → 0.98 is +3 points, not +3.2%.
    rate_now, rate_before = now["success_rate"], before["success_rate"]
    changes["success_rate"] = None if rate_now is None or rate_before is None else rate_now - rate_before
    for name in ("p50_ms", "p95_ms"):
        changes[f"ttft_{name}"] = change(now["ttft"][name], before["ttft"][name])
    changes["cost"] = {currency: change(amount, before["cost"].get(currency))
                       for currency, amount in now["cost"].items()}
    return {"now": now, "before": before, "change": changes}


# --- chart data ------------------------------------------------------------------------------

def charts(session: Session, period: Period, site_domain: str | None = None) -> dict:
    """Everything the dashboard's charts draw, one point per local day where a chart is by day."""
    days = list(each_day(period.first, period.last))
    return {"period": period.as_json(), "days": [d.isoformat() for d in days],
            **_by_day(session, period, days, site_domain),
            "cost": _cost_by_upstream(session, period, days, site_domain),
            **_models_and_sites(session, period, site_domain)}


# What the charts by day need, summed in one pass over the period's rows: outcomes, both histograms.
_DAY_SUMS = ("requests", "successes", "cancelled", "errors") + LATENCY_COLUMNS + TTFT_COLUMNS
_DAY_BOUNDS = {"latency_min_ms": func.min(_S.latency_min_ms), "latency_max_ms": func.max(_S.latency_max_ms),
               "latency_unbounded": func.sum(case((and_(_S.latency_count > 0, _S.latency_min_ms.is_(None)), 1),
                                                  else_=0)),
               "unmeasured": _UNMEASURED}


def _by_day(session: Session, period: Period, days: list, site_domain: str | None) -> dict:
    """Requests, failed requests, upstream errors, and latency and first-token p50/p95, per day."""
    found = {row.day: row for row in sums(session, period, ("day",), _DAY_SUMS, site_domain, _DAY_BOUNDS)}
    out = {"requests": [], "failed": [], "errors": [], "latency": {"p50": [], "p95": []},
           "ttft": {"p50": [], "p95": []}}
    for day in days:
        row = found.get(day)
        n = {c: int(getattr(row, c) or 0) if row is not None else 0 for c in _DAY_SUMS}
        out["requests"].append(n["requests"])
        out["failed"].append(n["requests"] - n["successes"] - n["cancelled"])
        out["errors"].append(n["errors"])
        # As _Totals.latency: the exact bounds narrow the buckets only when every row of the day has them.
        bounded = row is not None and row.latency_min_ms is not None and not row.latency_unbounded
        bounds = (row.latency_min_ms, row.latency_max_ms) if bounded else None
        latency = [n[c] for c in LATENCY_COLUMNS]
        first = FirstToken(counts=[n[c] for c in TTFT_COLUMNS], unmeasured=int(row.unmeasured or 0) if row else 0)
        first_ms = first.percentiles()
        for name, q in PERCENTILES:
            out["latency"][name[:3]].append(histogram.percentile(latency, q, bounds))
            out["ttft"][name[:3]].append(first_ms[name])
    return out


def _cost_by_upstream(session: Session, period: Period, days: list, site_domain: str | None) -> list[dict]:
    """Per currency: each upstream's cost per day (exact decimal strings), upstreams by total cost, largest first."""
    index = {day: i for i, day in enumerate(days)}
    amounts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [Decimal(0)] * len(days)))
    for row in sums(session, period, ("day", "upstream", "currency"), ("cost",), site_domain):
        if row.currency:
            amounts[row.currency][row.upstream][index[row.day]] += row.cost or Decimal(0)
    out = []
    for currency in sorted(amounts):
        ranked = sorted(amounts[currency].items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        out.append({"currency": currency, "total": money_str(sum((sum(v) for _, v in ranked), Decimal(0))),
                    "upstreams": [{"upstream": name, "amounts": [money_str(a) for a in values]}
                                  for name, values in ranked]})
    return out


def _models_and_sites(session: Session, period: Period, site_domain: str | None) -> dict:
    """Tokens by model and traffic by site, from one pass over the period (a few dozen groups)."""
    names = site_names(session)
    tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    traffic: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in sums(session, period, ("model", "site_id", "site_domain"),
                    ("prompt_tokens", "completion_tokens", "requests", "successes", "cancelled"), site_domain):
        t = tokens[row.model]
        t[0] += int(row.prompt_tokens or 0)
        t[1] += int(row.completion_tokens or 0)
        requests = int(row.requests or 0)
        s = traffic[site_of(names, row.site_id, row.site_domain)]
        s[0] += requests
        s[1] += requests - int(row.successes or 0) - int(row.cancelled or 0)
    return {"models": _top_models(tokens),
            "sites": [{"site": site, "requests": r, "failed": f}  # busiest first
                      for site, (r, f) in sorted(traffic.items(), key=lambda kv: (-kv[1][0], kv[0]))]}


def _top_models(tokens: dict[str, list[int]]) -> list[dict]:
    """Prompt and completion tokens per model, most first; past TOP_MODELS the rest as one row (model None)."""
    ranked = sorted(((m, p, c) for m, (p, c) in tokens.items()), key=lambda r: (-(r[1] + r[2]), r[0]))
    out = [{"model": m, "prompt": p, "completion": c} for m, p, c in ranked[:TOP_MODELS]]
    rest = ranked[TOP_MODELS:]
    if rest:
        out.append({"model": None, "prompt": sum(r[1] for r in rest), "completion": sum(r[2] for r in rest),
                    "models": len(rest)})
    return out
