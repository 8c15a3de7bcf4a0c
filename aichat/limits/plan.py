"""What one request is counted against: a counter per limit of its site and of its client key.

A counter names one window of one limit of one owner (`site12:tpm:1767225600`), so every process
and instance counting the same thing names the same counter. Requests, tokens and 1e-10ths of
the limit's currency are whole numbers, which is what Redis counts atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from aichat.tenancy.specs import ClientKeySpec, Limits, SiteSpec

from .windows import DAY, MINUTE, MONTH, Window

# Budgets are counted in the cost column's quantum (1e-10 of their currency), so a call's cost is added
# exactly; Redis counts in 64 bits, enough for 900 million a window.
PLACES = 10
UNIT = Decimal(10) ** PLACES
# Each limit: the window it counts in, what it counts, and the code a refusal carries.
RATE, TOKENS, BUDGET = "rate_limited", "tokens_exhausted", "budget_exhausted"
ADDRESS = "rate"  # the gateway's own limit per client address (AICHAT_RATE_LIMIT), whatever the site
REQUEST_LIMITS = ("rpm", "rpm_ip", "rpm_user")
TOKEN_LIMITS = (("tpm", MINUTE), ("tpd", DAY))
BUDGET_LIMITS = (("cost_day", DAY), ("cost_month", MONTH))
CODES = {"rpm": RATE, "rpm_ip": RATE, "rpm_user": RATE, "tpm": TOKENS, "tpd": TOKENS,
         "cost_day": BUDGET, "cost_month": BUDGET, ADDRESS: RATE}


@dataclass(slots=True)  # not frozen: a request builds up to 14 of these, and frozen ones cost twice as much
class Counter:
    """One window of one limit of one owner, and what this request asks of it."""

    key: str  # the storage key, without the deployment's prefix
    limit: int
    need: int  # what must still fit under the limit for the request to pass
    amount: int  # what the request adds now (tokens: its estimate; a budget: nothing until the cost is known)
    name: str  # a LIMIT_NAME
    scope: str  # site | key | ip | user: whose use is counted
    owner: str  # site | key | gateway: whose limit it is
    window: Window

    @property
    def code(self) -> str:
        return CODES[self.name]


def owner_id(site: SiteSpec, key: ClientKeySpec | None = None) -> str:
    """A stable name for the owner's counters: the row id (a renamed domain keeps its counts)."""
    if key is not None:
        return f"key{key.id}" if key.id is not None else f"key:{key.prefix}"
    return f"site{site.id}" if site.id is not None else f"site:{site.domain}"


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a request is expected to use: its tokens, and their cost when its model has a price."""

    tokens: int = 0
    cost: Decimal | None = None
    currency: str | None = None

    def units(self, currency: str) -> int | None:
        """The estimated cost in counted units of a budget in `currency`; None when unknown in it."""
        return units(self.cost) if self.cost is not None and self.currency == currency else None


def counters(owner: str, kind: str, limits: Limits, windows: dict[str, Window], ip: str | None,
             end_user: str | None, estimate: Estimate) -> list[Counter]:
    """The counters of one owner's limits for a request from `ip` (and `end_user`) expected to use `estimate`."""
    found = []
    minute = windows[MINUTE]
    if limits.rpm is not None:
        found.append(Counter(f"{owner}:rpm:{minute.start}", limits.rpm, 1, 1, "rpm", kind, kind, minute))
    if limits.rpm_ip is not None and ip:
        found.append(Counter(f"{owner}:ip:{ip}:{minute.start}", limits.rpm_ip, 1, 1, "rpm_ip", "ip", kind, minute))
    if limits.rpm_user is not None and end_user:
        found.append(Counter(f"{owner}:user:{end_user}:{minute.start}", limits.rpm_user, 1, 1, "rpm_user", "user",
                             kind, minute))
    for name, window_name in TOKEN_LIMITS:
        limit = getattr(limits, name)
        if limit is not None:
            window = windows[window_name]
            found.append(Counter(f"{owner}:{name}:{window.start}", limit, estimate.tokens, estimate.tokens, name,
                                 kind, kind, window))
    cost = None
    for name, window_name in BUDGET_LIMITS:
        budget = getattr(limits, name)
        if budget is not None:
            window = windows[window_name]
            cost = estimate.units(limits.currency) if cost is None else cost
            # Without a price in the budget's currency, a budget passes while any of it is left.
            need, amount = (1, 0) if cost is None else (cost, cost)
            found.append(Counter(f"{owner}:{name}:{window.start}", int(budget * UNIT), need, amount, name, kind,
                                 kind, window))
    return found


@dataclass(frozen=True, slots=True)
class AddressLimit:
    """One of the gateway's limits per client address: `amount` requests per `seconds`, named `label`."""

    amount: int
    seconds: int
    label: str  # the window as people read it: minute, hour, 10 seconds


def address_limits(text: str) -> tuple[AddressLimit, ...]:
    """AICHAT_RATE_LIMIT (`30/minute`, `30 per minute; 500/day`, Flask-Limiter's notation) as AddressLimits;
    none for `off`; ValueError when it is not a limit."""
    from limits import parse_many

    if text.strip().lower() == "off":
        return ()
    found = []
    for item in parse_many(text):
        unit = item.GRANULARITY.name
        label = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
        found.append(AddressLimit(item.amount, item.get_expiry(), label))
    return tuple(found)


def address_counters(limits: tuple[AddressLimit, ...], ip: str, windows, now: float) -> list[Counter]:
    """The counters of the gateway's limits per address (`windows`: a Windows) for one request from `ip`."""
    found = []
    for limit in limits:
        window = windows.every(limit.seconds, limit.label, now)
        found.append(Counter(f"gw:ip:{ip}:{limit.seconds}:{window.start}", limit.amount, 1, 1, ADDRESS, "ip",
                             "gateway", window))
    return found


def needs_estimate(limits: Limits) -> bool:
    return (limits.tpm is not None or limits.tpd is not None or limits.cost_day is not None
            or limits.cost_month is not None)


def units(cost: Decimal) -> int:
    """A cost in counted units, rounded up (costs already come in them): a budget is never under-counted."""
    return int((cost * UNIT).to_integral_value(rounding=ROUND_CEILING))


def shown(counter_name: str, value: int) -> int | str:
    """A counted value as people read it: money back in its currency (a string, exact), the rest as is."""
    if counter_name in ("cost_day", "cost_month"):
        return f"{Decimal(value).scaleb(-PLACES).normalize():f}"
    return value
