"""What limits and budgets cost per request: `python bench/limits.py [--redis redis://127.0.0.1:6379/0]`.

1. The engine alone, as a chat request uses it with a site and a client key that have every limit
   (rpm, rpm_ip, rpm_user, tpm, tpd, cost_day, cost_month on both): the token estimate of a small body,
   the reservation, the x-ratelimit headers, and the settling with the real usage and its cost.
   CPU per request (process time) against memory and against Redis, and Redis's wall time (its round trips).
2. Whole JSON requests through the app (the demo responder, Flask's test client, no network): CPU per
   request with no limits, with every limit on memory, and on Redis; and with Flask-Limiter's global
   per-IP limit off, to see what it costs.
Medians of several rounds; run it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aichat.gateway.tokens import estimate_tokens  # noqa: E402
from aichat.limits import Estimate, MemoryCounters, Quota, Windows  # noqa: E402
from aichat.limits.shared import RedisCounters  # noqa: E402
from aichat.tenancy.specs import ClientKeySpec, SiteSpec, check_limits  # noqa: E402

EVERY_LIMIT = {"rpm": 10**9, "rpm_ip": 10**9, "rpm_user": 10**9, "tpm": 10**12, "tpd": 10**12,
               "cost_day": "100000000", "cost_month": "100000000"}
SITE = SiteSpec(id=1, domain="shop.example.com", name="Shop", publishable_key="pk_bench", origins=frozenset(),
                limits=check_limits(EVERY_LIMIT))
KEY = ClientKeySpec(id=1, site_id=1, name="backend", prefix="aic_live_bench", digest=b"x",
                    limits=check_limits(EVERY_LIMIT))
MESSAGES = [{"role": "system", "content": "You are the shop's helpful assistant."},
            {"role": "user", "content": "Which of your rain jackets is lightest, and does it come in blue?"}]


def engine_round(quota: Quota, n: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per request over n requests."""
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        def estimate():
            return Estimate(sum(estimate_tokens(m["content"]) + 4 for m in MESSAGES) + 256, Decimal("0.0002"), "USD")

        held = quota.reserve(SITE, KEY, "203.0.113.7", f"user-{i % 50}", estimate)
        held.headers()
        quota.settle(held, 180, Decimal("0.000123"), "USD")
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def engine(store, rounds: int, n: int) -> tuple[float, float]:
    quota = Quota(store, Windows(ZoneInfo("Asia/Shanghai")))
    engine_round(quota, 200)  # warm
    results = [engine_round(quota, n) for _ in range(rounds)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    print("engine alone, per request (reserve + headers + settle, every limit on a site and a key):")
    cpu, _ = engine(MemoryCounters(), args.rounds, args.n)
    print(f"  memory: {cpu:7.1f} µs CPU")
    prefix = f"aichat-bench-{uuid.uuid4().hex[:8]}:"
    store = RedisCounters(args.redis, prefix)
    cpu, wall = engine(store, args.rounds, args.n // 4)
    print(f"  redis:  {cpu:7.1f} µs CPU, {wall:7.1f} µs wall (2 round trips: reserve, settle)")
    cleanup = store._redis
    for key in cleanup.scan_iter(f"{prefix}*"):
        cleanup.delete(key)
    store.close()
    whole_requests(args)


def whole_requests(args) -> None:
    """CPU per JSON request through the app: the demo responder, the test client."""
    try:
        from bench.limits_app import run
    except ImportError:
        return
    run(args)


if __name__ == "__main__":
    main()
