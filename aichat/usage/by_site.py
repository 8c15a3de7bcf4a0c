"""Usage per site and per client key over a period, from the daily rollup: what the console's site pages show."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aichat.models.usage import AIUsageStats

from .queries import Period, money_str

_S = AIUsageStats.__table__.c


def _empty() -> dict:
    return {"requests": 0, "tokens": 0, "cost": defaultdict(Decimal)}


def per_site(session: Session, period: Period, sites: list) -> dict[int, dict]:
    """{site id: requests, tokens, cost per currency} for `sites`: the rows that carry a site's id, and those
    with none that name its domain (written before sites had ids). Two queries, each on its (site, day) index."""
    by_domain = {site.domain: site.id for site in sites}
    sums = (_S.currency, func.sum(_S.requests), func.sum(_S.prompt_tokens + _S.completion_tokens), func.sum(_S.cost))
    days = (_S.day >= period.first, _S.day <= period.last)
    by_id = (select(_S.site_id, *sums).where(_S.site_id.in_(list(by_domain.values())), *days)
             .group_by(_S.site_id, _S.currency))
    by_name = (select(_S.site_domain, *sums).where(_S.site_id.is_(None), _S.site_domain.in_(list(by_domain)), *days)
               .group_by(_S.site_domain, _S.currency))
    out: dict[int, dict] = defaultdict(_empty)
    rows = [*session.execute(by_id), *((by_domain[d], *rest) for d, *rest in session.execute(by_name))]
    for site_id, currency, requests, tokens, cost in rows:
        totals = out[site_id]
        totals["requests"] += int(requests or 0)
        totals["tokens"] += int(tokens or 0)
        if cost and currency:
            totals["cost"][currency] += Decimal(cost)
    return {site_id: {**totals, "cost": {c: money_str(a) for c, a in sorted(totals["cost"].items())}}
            for site_id, totals in out.items()}


def per_key(session: Session, period: Period, prefixes: list[str]) -> dict[str, dict]:
    """{key prefix: requests, tokens, cost per currency over the period} (usage rows name a key by its prefix), as
    caller_summary counts them, in one query on the rollup's (caller, day) index for all of a site's keys."""
    if not prefixes:
        return {}
    query = (select(_S.caller, _S.currency, func.sum(_S.requests), func.sum(_S.prompt_tokens),
                    func.sum(_S.completion_tokens), func.sum(_S.cost))
             .where(_S.caller.in_(prefixes), _S.day >= period.first, _S.day <= period.last)
             .group_by(_S.caller, _S.currency))
    out: dict[str, dict] = {}
    for caller, currency, requests, prompt, completion, cost in session.execute(query):
        totals = out.setdefault(caller, {"requests": 0, "tokens": {"prompt": 0, "completion": 0, "total": 0},
                                         "cost": defaultdict(Decimal)})
        totals["requests"] += int(requests or 0)
        totals["tokens"]["prompt"] += int(prompt or 0)
        totals["tokens"]["completion"] += int(completion or 0)
        totals["tokens"]["total"] += int(prompt or 0) + int(completion or 0)
        if cost and currency:
            totals["cost"][currency] += Decimal(cost)
    return {caller: {**totals, "cost": {c: money_str(a) for c, a in sorted(totals["cost"].items())}}
            for caller, totals in out.items()}
