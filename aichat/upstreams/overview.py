"""The console's view of the upstreams: each one in fallback order with its live health, keys and traffic.

Live health is the running gateway's: circuit and benched keys as every process sees them when Redis
is shared (REDIS_URL), else this worker's. Traffic (attempts, errors, error rate) comes from the daily
rollup over the chosen period. Nothing here holds a key.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from aichat.usage import queries

from . import listing, store


@dataclass
class Row:
    upstream: listing.UpstreamView
    live: dict | None  # scope, circuit and keys of the running gateway; None: not in it (disabled, no key)
    traffic: dict  # attempts, errors, error_rate over the period
    pinned: bool  # named in AICHAT_PROVIDER_ORDER: its place in the chain is set there
    key_live: dict = field(default_factory=dict)  # label -> {"circuit", "invalid"}
    last_used_at: datetime | None = None
    last_error_code: str | None = None
    last_error_at: datetime | None = None
    can_up: bool = False
    can_down: bool = False

    @property
    def name(self) -> str:
        return self.upstream.name

    @property
    def editable(self) -> bool:
        return self.upstream.source == "database"


def chain_order(found: list[listing.UpstreamView], order: list[str]) -> list[listing.UpstreamView]:
    """Upstreams as the router orders its fallback chain: AICHAT_PROVIDER_ORDER first, then by priority, then name."""
    by_name = {u.name: u for u in found}
    first = [by_name[n] for n in order if n in by_name]
    rest = sorted((u for u in found if u.name not in order), key=lambda u: (-u.priority, u.name))
    return first + rest


def live_health(gateway) -> dict[str, dict]:
    """Each upstream of the running gateway: its kind, circuit and keys (labels only)."""
    return {name: {**u.health(), "kind": u.adapter.kind} for name, u in gateway.upstreams.items() if u.kind != "demo"}


def rows(session: Session, settings: Mapping, gateway, period: queries.Period) -> list[Row]:
    """Every upstream, in fallback order, with what the page shows of it."""
    order = list(settings.get("AICHAT_PROVIDER_ORDER") or [])
    found = chain_order(listing.views(session, settings), order)
    live = live_health(gateway)
    traffic = {(r["upstream"], r["provider"]): r for r in queries.providers(session, period, live)["providers"]}
    result = []
    for upstream in found:
        state = live.get(upstream.name)
        if state is not None and state["kind"] != upstream.kind:
            state = None
        seen = traffic.get((upstream.name, upstream.kind), {})
        row = Row(upstream, state, {"attempts": seen.get("attempts", 0), "errors": seen.get("errors", 0),
                                    "error_rate": seen.get("error_rate")}, upstream.name in order)
        row.key_live = {k["label"]: k for k in (state or {}).get("keys", [])}
        row.last_used_at = max((k.last_used_at for k in upstream.keys if k.last_used_at), default=None)
        errors = [k for k in upstream.keys if k.last_error_at]
        if errors:
            newest = max(errors, key=lambda k: k.last_error_at)
            row.last_error_code, row.last_error_at = newest.last_error_code, newest.last_error_at
        result.append(row)
    movable = [r for r in result if r.editable and not r.pinned]
    for i, row in enumerate(movable):
        row.can_up, row.can_down = i > 0, i < len(movable) - 1
    return result


def movable_chain(session: Session, settings: Mapping) -> list[tuple[str, int]]:
    """(name, priority) of the stored upstreams whose place the console may change, in fallback order."""
    fixed = set(settings.get("AICHAT_PROVIDER_ORDER") or []) | listing.environment_names(settings)
    movable = [row for row in store.all_upstreams(session) if row.name not in fixed]
    return [(row.name, row.priority) for row in sorted(movable, key=lambda r: (-r.priority, r.name))]
