"""The limits engine against site and key specs, in memory and in the real Redis: every limit refuses exactly
at its threshold, nothing is counted for a refused request, settling corrects tokens and adds the cost."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from aichat.limits import Estimate, LimitExceeded, MemoryCounters, Quota, Windows
from aichat.limits.plan import AddressLimit, address_limits
from aichat.limits.quota import duration
from aichat.limits.shared import RedisCounters
from aichat.tenancy.specs import ClientKeySpec, SiteSpec, check_limits
from tests.shared_redis import REDIS_URL, redis_prefix  # noqa: F401 - a fixture

def ten_into_next_minute() -> int:
    """Near the real time (Redis expires counters by its own clock), ten seconds into the next minute."""
    return (int(time.time()) // 60 + 1) * 60 + 10


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


class Clock:
    def __init__(self, now: float | None = None):
        self.now = now or ten_into_next_minute()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield MemoryCounters()
        return
    prefix = request.getfixturevalue("redis_prefix")
    store = RedisCounters(REDIS_URL, prefix)
    yield store
    store.close()


def site(**limits) -> SiteSpec:
    return SiteSpec(id=7, domain="shop.example.com", name="Shop", publishable_key="pk_x", origins=frozenset(),
                    limits=check_limits(limits))


def key(**limits) -> ClientKeySpec:
    return ClientKeySpec(id=3, site_id=7, name="backend", prefix="aic_live_ab12", digest=b"d",
                         limits=check_limits(limits))


def quota(store, clock=None, zone="UTC") -> Quota:
    return Quota(store, Windows(ZoneInfo(zone)), clock or Clock())


def refused(q, s, k=None, ip="203.0.113.5", user=None, tokens=10) -> LimitExceeded | None:
    try:
        q.reserve(s, k, ip, user, lambda: Estimate(tokens))
    except LimitExceeded as exc:
        return exc
    return None


@pytest.mark.parametrize("name, scope, owner, make", [
    ("rpm", "site", "site", lambda: (site(rpm=3), None)),
    ("rpm", "key", "key", lambda: (site(), key(rpm=3))),
    ("rpm_ip", "ip", "site", lambda: (site(rpm_ip=3), None)),
    ("rpm_ip", "ip", "key", lambda: (site(), key(rpm_ip=3))),
    ("rpm_user", "user", "site", lambda: (site(rpm_user=3), None)),
])
def test_request_limits_refuse_the_request_past_the_threshold(store, name, scope, owner, make):
    clock = Clock()
    t0 = int(clock.now)
    q, (s, k) = quota(store, clock), make()
    assert [refused(q, s, k, user="u1") for _ in range(3)] == [None] * 3
    exc = refused(q, s, k, user="u1")
    assert exc is not None and exc.code == "rate_limited"
    assert exc.details() == {"name": name, "scope": scope, "owner": owner, "window": "minute", "limit": 3,
                             "used": 3, "requested": 1, "resets_at": iso(t0 + 50), "retry_after": 50}
    assert refused(q, s, k, user="u1") is not None, "a refusal counted nothing, and freed nothing"
    clock.now += 50
    assert refused(q, s, k, user="u1") is None, "the next minute is a new window"


def test_per_ip_and_per_user_count_each_address_and_user_apart(store):
    q, s = quota(store), site(rpm_ip=1, rpm_user=1)
    assert refused(q, s, ip="198.51.100.1", user="a") is None
    assert refused(q, s, ip="198.51.100.2", user="b") is None
    assert refused(q, s, ip="198.51.100.1", user="c").details()["scope"] == "ip"
    assert refused(q, s, ip="198.51.100.3", user="a").details()["scope"] == "user"
    assert refused(q, s, ip="198.51.100.4", user=None) is None, "no end user yet: the user limit does not apply"


def test_tokens_reserve_the_estimate_and_settle_to_the_real_usage(store):
    q, s = quota(store), site(tpm=100)
    first = q.reserve(s, None, None, None, lambda: Estimate(60))
    assert first.headers()["x-ratelimit-remaining-tokens"] == "40"
    exc = refused(q, s, tokens=41)
    assert exc.code == "tokens_exhausted" and exc.details()["used"] == 60 and exc.details()["requested"] == 41
    q.settle(first, 20, None, None)
    assert refused(q, s, tokens=80) is None, "exactly at the threshold: 20 + 80 = 100"
    assert refused(q, s, tokens=1) is not None


def test_a_failed_call_gives_its_tokens_back_but_its_request_still_counts(store):
    q, s = quota(store), site(tpm=100, rpm=2)
    held = q.reserve(s, None, None, None, lambda: Estimate(100))
    q.release(held)
    q.release(held)  # a second release changes nothing
    q.settle(held, 500, None, None)  # nor a settle after it
    assert refused(q, s, tokens=100) is None
    assert refused(q, s, tokens=0).code == "rate_limited"


def test_day_tokens_count_in_local_days(store):
    # The local day in Shanghai ends at 16:00 UTC.
    clock = Clock()
    shanghai_midnight = datetime.fromtimestamp(clock.now, timezone.utc).replace(hour=16, minute=0, second=0)
    if shanghai_midnight.timestamp() <= clock.now:
        shanghai_midnight += timedelta(days=1)
    q, s = quota(store, clock, "Asia/Shanghai"), site(tpd=50)
    assert refused(q, s, tokens=50) is None
    exc = refused(q, s, tokens=1)
    assert exc.details()["window"] == "day" and exc.details()["resets_at"] == iso(int(shanghai_midnight.timestamp()))
    clock.now = shanghai_midnight.timestamp()
    assert refused(q, s, tokens=50) is None


def test_a_budget_passes_while_any_is_left_and_stops_when_spent(store):
    clock = Clock()
    t0 = int(clock.now)
    q, s = quota(store, clock), site(cost_day="0.01", cost_month="1")
    for _ in range(3):
        q.settle(q.reserve(s, None, None, None, lambda: Estimate(0)), 5, Decimal("0.003"), "USD")
    last = q.reserve(s, None, None, None, lambda: Estimate(0))  # 0.009 spent: some left
    q.settle(last, 5, Decimal("0.00100000001"), "USD")  # past the 10th place: rounded up, never under
    exc = refused(q, s)
    assert exc.code == "budget_exhausted"
    assert exc.details() == {"name": "cost_day", "scope": "site", "owner": "site", "window": "day",
                             "limit": "0.01", "used": "0.0100000001", "requested": None, "currency": "USD",
                             "resets_at": iso(t0 - t0 % 86400 + 86400), "retry_after": 86400 - t0 % 86400}
    assert "daily budget of 0.01 USD for this site is spent" in exc.message
    view = {row["name"]: row for row in q.view(s)}
    assert view["cost_month"]["used"] == "0.0100000001" and view["cost_month"]["remaining"] == "0.9899999999"


def test_a_budget_reserves_the_estimated_cost_and_settles_to_the_exact_one(store):
    q, s = quota(store), site(cost_month="0.01")
    held = [q.reserve(s, None, None, None, lambda: Estimate(10, Decimal("0.004"), "USD")) for _ in range(2)]
    try:
        q.reserve(s, None, None, None, lambda: Estimate(10, Decimal("0.004"), "USD"))
    except LimitExceeded as exc:
        assert exc.code == "budget_exhausted" and exc.details()["requested"] == "0.004"
        assert exc.details()["used"] == "0.008"
    else:
        raise AssertionError("0.012 of a 0.01 budget was let through")
    q.settle(held[0], 10, Decimal("0.001"), "USD")
    assert {row["name"]: row["used"] for row in q.view(s)}["cost_month"] == "0.005"
    q.reserve(s, None, None, None, lambda: Estimate(10, Decimal("0.005"), "USD"))  # exactly at the budget
    q.release(held[1])
    assert {row["name"]: row["used"] for row in q.view(s)}["cost_month"] == "0.006"
    estimated_in_euros = q.reserve(s, None, None, None, lambda: Estimate(10, Decimal("5"), "EUR"))
    assert estimated_in_euros.counters[0].amount == 0, "an estimate in another currency reserves nothing"


def test_a_cost_in_another_currency_is_not_added_to_the_budget(store, caplog):
    q, s = quota(store), site(cost_day="0.01")
    q.settle(q.reserve(s, None, None, None, lambda: Estimate(0)), 5, Decimal("5"), "EUR")
    assert refused(q, s) is None
    assert "priced in EUR is not counted against a budget in USD" in caplog.text


def test_site_and_key_limits_both_apply_and_nothing_is_counted_when_one_refuses(store):
    q, s, k = quota(store), site(rpm=10), key(rpm=2)
    assert refused(q, s, k) is None and refused(q, s, k) is None
    assert refused(q, s, k).details()["owner"] == "key"
    view = {row["name"]: row for row in q.view(s)}
    assert view["rpm"]["used"] == 2, "the refused request was not counted against the site"
    assert refused(q, s) is None, "the site's own traffic (no key) still has room"


def test_no_limits_reserve_nothing(store):
    assert quota(store).reserve(site(), key(), "198.51.100.1", None, lambda: 1 / 0) is None


def test_headers_name_the_tightest_limit():
    clock = Clock()
    q, s, k = quota(MemoryCounters(), clock), site(rpm=100, tpd=1000), key(rpm=5, tpm=300)
    headers = q.reserve(s, k, None, None, lambda: Estimate(100)).headers()
    assert headers == {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "4",
                       "x-ratelimit-reset-requests": "50s", "x-ratelimit-limit-tokens": "300",
                       "x-ratelimit-remaining-tokens": "200", "x-ratelimit-reset-tokens": "50s"}


def test_durations_read_like_openais():
    assert [duration(s) for s in (0.02, 1, 59.2, 360, 10921)] == ["20ms", "1s", "1m0s", "6m0s", "3h2m1s"]


def test_the_gateways_limit_per_address_parses_flask_limiters_notation():
    assert address_limits("30/minute") == (AddressLimit(30, 60, "minute"),)
    assert address_limits("30 per minute; 500/day") == (AddressLimit(30, 60, "minute"),
                                                         AddressLimit(500, 86400, "day"))
    assert address_limits("10 per 5 seconds") == (AddressLimit(10, 5, "5 seconds"),)
    assert address_limits("OFF") == ()
    with pytest.raises(ValueError):
        address_limits("thirty a minute")


def test_the_limit_per_address_is_counted_with_the_sites_in_one_step(store):
    """An address past the gateway's limit is refused before anything of its site is counted, and an address
    refused by its site's limit has used nothing of the gateway's."""
    clock = Clock()
    q = Quota(store, Windows(ZoneInfo("UTC")), clock, per_address=address_limits("2/hour"))
    s = site(rpm=3)
    assert refused(q, s) is None and refused(q, s) is None
    exc = refused(q, s)
    hour_end = (int(clock.now) // 3600 + 1) * 3600
    assert exc.details() == {"name": "rate", "scope": "ip", "owner": "gateway", "window": "hour", "limit": 2,
                             "used": 2, "requested": 1, "resets_at": iso(hour_end),
                             "retry_after": hour_end - int(clock.now)}
    assert exc.message.startswith("the limit of 2 requests from one address per hour is reached; it resets in")
    assert refused(q, s, ip="198.51.100.9") is None
    assert refused(q, s, ip="198.51.100.9").details()["owner"] == "site", "the site's 3 a minute: used by 3 calls"
    assert refused(q, s, ip="198.51.100.10").details()["owner"] == "site"
    assert q.view(s)[0]["used"] == 3, "the refused address added nothing to the site's count"


def test_without_an_address_or_with_the_limit_off_nothing_is_counted_per_address(store):
    on = Quota(store, Windows(ZoneInfo("UTC")), Clock(), per_address=address_limits("1/minute"))
    assert on.reserve(site(), None, None, None, lambda: Estimate()) is None, "no address (a test or a job)"
    off = Quota(store, Windows(ZoneInfo("UTC")), Clock(), per_address=address_limits("off"))
    assert off.reserve(site(), None, "203.0.113.5", None, lambda: Estimate()) is None
