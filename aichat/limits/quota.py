"""The limits engine: reserve before the upstream call, settle after it with what the call really used.

A request is counted against every limit of its site and of its client key at once (plan.py): the
counters are checked and incremented as one atomic step (in this process's memory, or in Redis for
the whole fleet), with tokens and cost reserved at the request's estimate. When the call ends, the
gateway's end-of-call hook settles it: the estimates are replaced by the real tokens and the exact
cost; a call that failed gives them back. So requests in flight can overshoot a limit only by what
their estimates missed (a budget whose model has no price yet: by their cost). Plain Python, no Flask.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

from aichat.tenancy.specs import ClientKeySpec, Limits, SiteSpec

from . import plan
from .plan import (ADDRESS, BUDGET, RATE, TOKENS, AddressLimit, Counter, Estimate, address_counters, counters,
                   needs_estimate, owner_id, shown, units)
from .windows import Windows

log = logging.getLogger(__name__)

NOTHING = Estimate()

_UNITS = {"rpm": "requests", "rpm_ip": "requests from one address", "rpm_user": "requests from one user",
          "tpm": "tokens", "tpd": "tokens", "cost_day": "", "cost_month": "", ADDRESS: "requests from one address"}
_ADVERB = {"day": "daily", "month": "monthly"}
RATELIMIT_HEADERS = tuple(f"x-ratelimit-{what}-{group}" for group in ("requests", "tokens")
                          for what in ("limit", "remaining", "reset"))


class LimitExceeded(Exception):
    """A request that does not fit one of its limits: nothing was counted and nothing is sent upstream."""

    def __init__(self, counter: Counter, used: int, now: float, currency: str):
        self.counter = counter
        self.used = used
        self.retry_after = max(1, math.ceil(counter.window.reset - now))
        self.currency = currency
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return self.counter.code

    @property
    def message(self) -> str:
        c = self.counter
        whose = f"this {c.owner}"
        if c.owner == "gateway":
            what = f"the limit of {c.limit} {_UNITS[c.name]} per {c.window.name} is reached"
        elif c.code == BUDGET:
            what = (f"the {_ADVERB[c.window.name]} budget of {shown(c.name, c.limit)} {self.currency} for {whose} "
                    f"is spent ({shown(c.name, self.used)} used" + (
                        f", this request may cost {shown(c.name, c.need)})" if c.amount else ")"))
        elif c.code == TOKENS:
            what = (f"the limit of {c.limit} tokens per {c.window.name} for {whose} is reached "
                    f"({self.used} used, this request needs about {c.need})")
        else:
            what = f"the limit of {c.limit} {_UNITS[c.name]} per {c.window.name} for {whose} is reached"
        return f"{what}; it resets in {self.retry_after} s"

    def details(self) -> dict:
        """The limit named in the 429 body."""
        c = self.counter
        return {"name": c.name, "scope": c.scope, "owner": c.owner, "window": c.window.name,
                "limit": shown(c.name, c.limit), "used": shown(c.name, self.used),
                "requested": shown(c.name, c.need) if c.code != BUDGET or c.amount else None,
                **({"currency": self.currency} if c.code == BUDGET else {}),
                "resets_at": _iso(c.window.reset), "retry_after": self.retry_after}


class Reservation:
    """What one request holds until its call ends; settled or released once."""

    __slots__ = ("counters", "values", "currencies", "now", "done")

    def __init__(self, counters: list[Counter], values: list[int], currencies: dict[str, str], now: float):
        self.counters = counters  # each with what this request added to it (`amount`)
        self.values = values  # each counter's value just after this request was added
        self.currencies = currencies  # owner -> the currency of its budgets
        self.now = now
        self.done = False

    def claim(self) -> bool:
        """True for the first caller only (the end-of-call hook or the view's unwinding)."""
        if self.done:
            return False
        self.done = True
        return True

    def headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers: for requests and for tokens, the limit with the least left."""
        headers = {}
        for group, codes in (("requests", RATE), ("tokens", TOKENS)):
            tightest = None
            for counter, value in zip(self.counters, self.values):
                if counter.code == codes and (tightest is None or counter.limit - value < tightest[1]):
                    tightest = (counter, counter.limit - value)
            if tightest is not None:
                counter, left = tightest
                headers[f"x-ratelimit-limit-{group}"] = str(counter.limit)
                headers[f"x-ratelimit-remaining-{group}"] = str(max(0, left))
                headers[f"x-ratelimit-reset-{group}"] = duration(counter.window.reset - self.now)
        return headers


class Quota:
    """Limits of sites and client keys, and the gateway's own per client address (`per_address`), counted in
    `store` (MemoryCounters or RedisCounters)."""

    def __init__(self, store, windows: Windows, clock: Callable[[], float] = time.time,
                 per_address: tuple[AddressLimit, ...] = ()):
        self.store = store
        self.windows = windows
        self.per_address = per_address
        self._clock = clock
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def reserve(self, site: SiteSpec, key: ClientKeySpec | None, ip: str | None, end_user: str | None,
                estimate: Callable[[], Estimate]) -> Reservation | None:
        """Count a request against every limit it falls under, or raise LimitExceeded; None when it has none.

        The gateway's limits per address come first, then the site's, then the key's: all are checked and
        counted as one step. `estimate` gives the request's tokens (prompt and completion) and their cost;
        it is asked only when a token limit or a budget applies.
        """
        site_limits, key_limits = site.limits, key.limits if key is not None else None
        by_address = self.per_address if ip else ()
        if not by_address and not site_limits.any and (key_limits is None or not key_limits.any):
            return None
        now = self._clock()
        found = address_counters(by_address, ip, self.windows, now) if by_address else []
        currencies = {"gateway": "", "site": site_limits.currency}
        if site_limits.any or (key_limits is not None and key_limits.any):
            windows = self.windows.at(now)
            expected = (estimate() if needs_estimate(site_limits)
                        or (key_limits is not None and needs_estimate(key_limits)) else NOTHING)
        if site_limits.any:
            found += counters(owner_id(site), "site", site_limits, windows, ip, end_user, expected)
        if key_limits is not None and key_limits.any:
            found += counters(owner_id(site, key), "key", key_limits, windows, ip, end_user, expected)
            currencies["key"] = key_limits.currency
        return self._take(found, currencies, now)

    def count_address(self, ip: str | None) -> Reservation | None:
        """Count one request against the gateway's limits per address alone (a request that is not a chat, such
        as a conversation's change), or raise LimitExceeded; None when there is nothing to count."""
        if not ip or not self.per_address:
            return None
        now = self._clock()
        return self._take(address_counters(self.per_address, ip, self.windows, now), {"gateway": ""}, now)

    def _take(self, found: list[Counter], currencies: dict[str, str], now: float) -> Reservation:
        """Check and add every counter as one step in the store: the reservation, or LimitExceeded."""
        refused, values = self.store.reserve(found, now)
        if refused >= 0:
            counter = found[refused]
            raise LimitExceeded(counter, values[refused], now, currencies[counter.owner])
        return Reservation(found, values, currencies, now)

    def settle(self, reservation: Reservation, tokens: int, cost: Decimal | None, currency: str | None) -> None:
        """The call is over: its real tokens and exact cost replace the estimates (once)."""
        if not reservation.claim():
            return
        changes = []
        for counter in reservation.counters:
            if counter.code == TOKENS:
                used = tokens
            elif counter.code == BUDGET:
                used = self._spent(cost, currency, reservation.currencies[counter.owner])
            else:
                continue
            if used != counter.amount:
                changes.append((counter.key, used - counter.amount, counter.window.reset + 1))
        self.store.adjust(changes, self._clock())

    def release(self, reservation: Reservation) -> None:
        """The call failed before using anything: its estimates are given back (its request still counts)."""
        self.settle(reservation, 0, None, None)

    def view(self, site: SiteSpec, key: ClientKeySpec | None = None) -> list[dict]:
        """What is used and left now in each window of the site's (or the key's) own limits."""
        limits: Limits = key.limits if key is not None else site.limits
        kind = "key" if key is not None else "site"
        now = self._clock()
        found = counters(owner_id(site, key), kind, limits, self.windows.at(now), None, None, NOTHING)
        values = self.store.read([c.key for c in found], now)
        return [{"name": c.name, "window": c.window.name, "limit": shown(c.name, c.limit),
                 "used": shown(c.name, value), "remaining": shown(c.name, max(0, c.limit - value)),
                 **({"currency": limits.currency} if c.code == BUDGET else {}),
                 "resets_at": _iso(c.window.reset)} for c, value in zip(found, values)]

    def _spent(self, cost: Decimal | None, currency: str | None, budget_currency: str) -> int:
        if not cost:
            return 0
        if currency != budget_currency:
            self._tell_once(f"{currency}:{budget_currency}", "a call priced in %s is not counted against a budget "
                            "in %s", currency, budget_currency)
            return 0
        return units(cost)

    def _tell_once(self, what: str, message: str, *args) -> None:
        with self._lock:
            if what in self._told:
                return
            self._told.add(what)
        log.warning(message, *args)


def duration(seconds: float) -> str:
    """A time as OpenAI's reset headers write it: 20ms, 1s, 6m0s, 3h2m1s."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


__all__ = ["Estimate", "LimitExceeded", "Quota", "Reservation", "duration", "plan"]
