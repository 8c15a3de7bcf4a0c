"""What limits and budgets cost per request: `python bench/quota.py [--redis redis://127.0.0.1:6379/0]`.

1. The engine alone, as a chat request uses it with a site and a client key that have every limit
   (rpm, rpm_ip, rpm_user, tpm, tpd, cost_day, cost_month on both) and the gateway's limit per address:
   the token estimate of a small body, the reservation, the x-ratelimit headers, and the settling with
   the real usage and its cost. CPU per request (process time) against memory and against Redis, and
   Redis's wall time (its round trips).
2. Whole JSON requests on /v1 through the app (the demo responder, Flask's test client, no network): CPU
   of the request's thread with nothing counted (AICHAT_RATE_LIMIT=off, no limits: the floor), the floor
   plus one bare Redis script call (what a round trip costs a request by itself), the limit per address
   alone, and every limit on site and key too, on memory and on Redis; and the Redis round trips each
   request made.
Medians of several rounds, interleaved; run it on an idle machine.
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
from aichat.limits.plan import address_limits  # noqa: E402
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

        held = quota.reserve(SITE, KEY, f"203.0.113.{i % 200}", f"user-{i % 50}", estimate)
        held.headers()
        quota.settle(held, 180, Decimal("0.000123"), "USD")
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def engine(store, rounds: int, n: int) -> tuple[float, float]:
    quota = Quota(store, Windows(ZoneInfo("Asia/Shanghai")), per_address=address_limits("1000000/second"))
    engine_round(quota, 200)  # warm
    results = [engine_round(quota, n) for _ in range(rounds)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    print("engine alone, per request (reserve + headers + settle, every limit on a site and a key, and per address):")
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
    """CPU of the request's own thread per JSON request through the app (the demo responder, the test client)."""
    from flask_migrate import upgrade

    from aichat import create_app
    from aichat.extensions import db
    from aichat.models import ClientKey, Site
    from aichat.runtime import runtime_of
    from aichat.tenancy.store import bump, dumps, new_client_key

    body = {"messages": MESSAGES, "max_tokens": 64}
    print("whole JSON requests on /v1 (demo responder, test client), CPU of the request's thread:")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        base = {"TESTING": True, "SECRET_KEY": "bench", "OPENAI_API_KEY": [], "GEMINI_API_KEY": [],
                "SQLALCHEMY_DATABASE_URI": url, "AICHAT_CONFIG_POLL_INTERVAL": 0, "AICHAT_ACCESS_LOG": False,
                "AICHAT_RATE_LIMIT": "off", "RATELIMIT_STORAGE_URI": "memory://",
                "AICHAT_USAGE_SPOOL_DIR": f"{tmp}/spool", "AICHAT_ROLLUP_INTERVAL": 0}
        app = create_app(base)
        with app.app_context():
            upgrade()
            key, prefix, digest = new_client_key()
            site = db.session.execute(db.select(Site).where(Site.domain == "localhost")).scalar_one()
            db.session.add(ClientKey(site_id=site.id, name="bench", prefix=prefix, key_hash=digest, limits="{}"))
            bump(db.session)
            db.session.commit()
        runtime_of(app).recorder.close()
        per_address = {"AICHAT_RATE_LIMIT": "1000000/second"}

        def on_redis():
            return {"REDIS_URL": args.redis, "AICHAT_REDIS_PREFIX": f"aichat-bench-{uuid.uuid4().hex[:8]}:"}

        variants = [
            ("nothing counted (the floor)", {}, False),
            ("nothing counted + one bare Redis script call", {}, False),
            ("limit per address, memory", per_address, False),
            ("every limit on site and key + per address, memory", per_address, True),
            ("limit per address, Redis", {**per_address, **on_redis()}, False),
            ("every limit on site and key + per address, Redis", {**per_address, **on_redis()}, True),
        ]
        runs = []
        for name, overrides, limited in variants:
            app = create_app({**base, **overrides})
            with app.app_context():
                stored = dumps(EVERY_LIMIT if limited else {})
                db.session.execute(db.update(Site).values(limits=stored))
                db.session.execute(db.update(ClientKey).values(limits=stored))
                bump(db.session)
                db.session.commit()
            runtime_of(app).tenancy.poll()
            if "bare" in name:
                app.before_request(_bare_round_trip(args.redis))
            trips = [0]
            store = runtime_of(app).quota.store
            if isinstance(store, RedisCounters):
                trips = _count_round_trips(store)
            runs.append((name, app, app.test_client(), [], trips))
        headers = {"Authorization": f"Bearer {key}"}

        def one_round(client, n: int) -> float:
            cpu = time.thread_time()
            for _ in range(n):
                answer = client.post("/v1/chat/completions", json=body, headers=headers)
                assert answer.status_code == 200, answer.get_data(as_text=True)
            return (time.thread_time() - cpu) / n * 1e6

        # Rounds interleaved across the variants, so a busy moment of the machine touches them all alike.
        for _, _, client, _, _ in runs:
            one_round(client, 100)
        sent = 0
        for _ in range(args.rounds * 2):
            for _, _, client, results, _ in runs:
                results.append(one_round(client, args.n // 8))
            sent += args.n // 8
        floor = statistics.median(runs[0][3])
        for name, app, _, results, trips in runs:
            cpu = statistics.median(results)
            print(f"  {name:52s} {cpu:7.1f} µs CPU ({cpu - floor:+6.1f}), "
                  f"{trips[0] / (sent + 100):.2f} Redis round trips a request")
            runtime_of(app).recorder.close()


def _bare_round_trip(url: str):
    """A before_request hook making one script call to Redis: what one round trip costs a request by itself."""
    import redis

    script = redis.Redis.from_url(url).register_script("return {0, 1}")

    def hook() -> None:
        script(keys=["aichat-bench-bare"], args=["[1]"])

    return hook


def _count_round_trips(store: RedisCounters) -> list[int]:
    """Count the commands `store` sends Redis (each one round trip: a script call is one)."""
    count = [0]
    send = store._redis.execute_command

    def counted(*args, **kwargs):
        count[0] += 1
        return send(*args, **kwargs)

    store._redis.execute_command = counted
    return count


if __name__ == "__main__":
    main()
