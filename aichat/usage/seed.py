"""Demo usage data: a realistic spread of upstream attempts over the last N days.

For trying the console and the monitoring API on a fresh install, and for measuring their
queries at scale (`flask usage seed-demo --rows 1000000`). Every demo row has a request id
starting with `demo-`, so `flask usage seed-demo --clear` can take them out again.
"""
from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

DEMO_PREFIX = "demo-"

# (site, share of traffic)
SITES = (("shop.example.com", 34), ("help.example.com", 22), ("shop.example.cn", 16), ("docs.example.org", 14),
         ("blog.example.net", 8), ("unknown", 6))
# (caller, share): browser traffic has none; server callers use /v1 keys.
CALLERS = ((None, 76), ("key:3f1a2b9c0d", 15), ("key:9e8d7c6b5a", 9))


@dataclass(frozen=True, slots=True)
class DemoModel:
    upstream: str  # the upstream's name
    provider: str  # its kind
    model: str
    share: int
    prompt: int  # median prompt tokens
    completion: int  # median completion tokens
    latency_ms: int  # median latency of a whole answer
    reasoning: float = 0.0  # share of completion tokens spent thinking
    cached: float = 0.0  # share of prompt tokens served from cache


MODELS = (
    DemoModel("gemini", "gemini", "gemini-2.5-flash", 40, 900, 350, 2400, reasoning=0.3, cached=0.2),
    DemoModel("gemini", "gemini", "gemini-2.5-pro", 6, 2500, 700, 9000, reasoning=0.5, cached=0.2),
    DemoModel("gemini", "gemini", "gemini-2.0-flash", 8, 700, 300, 1500),
    DemoModel("openai", "openai", "gpt-4o-mini-2024-07-18", 24, 800, 300, 2200, cached=0.3),
    DemoModel("openai", "openai", "gpt-4.1-mini", 9, 1100, 400, 2600, cached=0.3),
    DemoModel("openai", "openai", "gpt-4o-2024-08-06", 5, 1400, 450, 3800, cached=0.3),
    DemoModel("openai", "openai", "o4-mini", 4, 1200, 900, 7000, reasoning=0.6, cached=0.2),
    # Another OpenAI-compatible upstream, whose model nobody has priced yet: counted as unpriced.
    DemoModel("deepseek", "openai", "deepseek-chat", 4, 900, 400, 3000),
)
ERRORS = (("upstream_rate_limited", 429, "rate limit reached, retry shortly"),
          ("upstream_server_error", 503, "the model is overloaded, please try again later"),
          ("upstream_server_error", 500, "internal error"),
          ("upstream_timeout", 504, "upstream timed out"))


def _weights(pairs) -> tuple[list, list[int]]:
    """Choices and their cumulative weights (rng.choices(population, cum_weights=…) skips re-adding them)."""
    pairs = list(pairs)
    return [p[0] for p in pairs], list(itertools.accumulate(p[1] for p in pairs))


def _hour_weights() -> list[float]:
    """A working-day curve in the local time zone: quiet at 4:00, busiest around 14:00-15:00."""
    return [0.25 + math.sin(math.pi * max(0.0, h - 5) / 19) ** 2 for h in range(24)]


def _day_weights(days: int, start_local: datetime) -> list[float]:
    """Growing traffic (60% → 100% over the period), lighter on weekends."""
    weights = []
    for i in range(days):
        day = start_local + timedelta(days=i)
        growth = 0.6 + 0.4 * i / max(days - 1, 1)
        weights.append(growth * (0.7 if day.weekday() >= 5 else 1.0))
    return weights


def _tokens(rng: random.Random, median: int) -> int:
    return max(1, int(rng.lognormvariate(math.log(median), 0.6)))


def _quotas(rows: int, weights: list[float]) -> list[int]:
    """`rows` split in proportion to `weights` (largest remainders), summing to exactly `rows`."""
    total = sum(weights) or 1.0
    exact = [rows * w / total for w in weights]
    quotas = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - quotas[i], reverse=True)
    for i in by_remainder[:rows - sum(quotas)]:
        quotas[i] += 1
    return quotas


def generate(rows: int, days: int = 90, tz: str = "UTC", seed: int = 1,
             now: datetime | None = None) -> Iterator[dict]:
    """Exactly `rows` usage rows (one per attempt, failovers included) over the last `days` local days.

    Rows come day by day in time order, as live traffic is written: an index that ends in created_at
    then grows at its end, which keeps seeding millions of rows fast. They come without cost; the caller
    prices them as the batch writer would.
    """
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start_local = today - timedelta(days=days - 1)
    hour_w = _hour_weights()
    # Today only runs up to now: its share is its weight times the part of its traffic curve already past.
    elapsed = (now.astimezone(zone) - today).total_seconds() / 3600
    today_hours = [w * min(1.0, max(0.0, elapsed - h)) for h, w in enumerate(hour_w)]
    day_w = _day_weights(days, start_local)
    day_w[-1] *= sum(today_hours) / sum(hour_w)
    for day, quota in enumerate(_quotas(rows, day_w)):
        weights = today_hours if day == days - 1 else hour_w
        batch = list(_day_rows(rng, quota, start_local + timedelta(days=day), weights, now))
        batch.sort(key=lambda r: r["created_at"])
        yield from batch


def _day_rows(rng: random.Random, quota: int, day_local: datetime, hour_w: list[float],
              now: datetime) -> Iterator[dict]:
    """`quota` rows of one local day, in no particular order."""
    sites, site_w = _weights(SITES)
    callers, caller_w = _weights(CALLERS)
    models, model_w = _weights((m, m.share) for m in MODELS)
    hours, hour_w = _weights(enumerate(hour_w))
    by_provider = {p: [m for m in MODELS if m.provider == p] for p in ("gemini", "openai")}
    made = 0
    while made < quota:
        hour = rng.choices(hours, cum_weights=hour_w)[0]
        local = day_local + timedelta(hours=hour, seconds=rng.random() * 3600)
        at = local.astimezone(timezone.utc)
        if at > now:
            continue
        site = rng.choices(sites, cum_weights=site_w)[0]
        caller = rng.choices(callers, cum_weights=caller_w)[0]
        model = rng.choices(models, cum_weights=model_w)[0]
        request = {
            "request_id": DEMO_PREFIX + uuid.UUID(int=rng.getrandbits(128)).hex[:24],
            "site_domain": site, "caller": caller, "endpoint": "v1" if caller else "ai-proxy",
            "stream": rng.random() < 0.6,
        }
        attempt = 1
        roll = rng.random()
        if roll < 0.03 and made + 1 < quota:
            # A transient failure, then the other provider answers.
            code, status, message = rng.choice(ERRORS)
            yield _row(rng, request, attempt, model, at, status="error", error=(code, status, message),
                       failed_over=True)
            made += 1
            attempt += 1
            other = "openai" if model.provider == "gemini" else "gemini"
            model = by_provider[other][0]
            at += timedelta(milliseconds=rng.randint(50, 3000))
        status = "cancelled" if request["stream"] and roll > 0.985 else "success"
        if 0.97 < roll < 0.975:
            yield _row(rng, request, attempt, model, at, status="error",
                       error=("upstream_request_invalid", 400, "the prompt is too long for this model"))
        else:
            yield _row(rng, request, attempt, model, at, status=status)
        made += 1


def _row(rng: random.Random, request: dict, attempt: int, model: DemoModel, at: datetime, *, status: str,
         error: tuple | None = None, failed_over: bool = False) -> dict:
    prompt = completion = cached = reasoning = 0
    latency = rng.lognormvariate(math.log(model.latency_ms), 0.5)
    ttft = None
    estimated = False
    if error is None:
        prompt = _tokens(rng, model.prompt)
        completion = _tokens(rng, model.completion)
        if status == "cancelled":
            completion = max(1, int(completion * rng.random()))
            latency *= rng.random()
        cached = int(prompt * model.cached * rng.random() * 2) if rng.random() < 0.5 else 0
        reasoning = int(completion * model.reasoning)
        estimated = status == "cancelled" or rng.random() < 0.03
        if request["stream"]:
            ttft = latency * rng.uniform(0.05, 0.3)
    else:
        latency = rng.uniform(80, 1200) if error[1] != 504 else 30000.0
    return {
        **request,
        "attempt": attempt,
        "upstream": model.upstream,
        "provider": model.provider,
        "key_label": f"{model.upstream}#{rng.randint(1, 2)}",
        "model_requested": model.model.split("-20")[0],
        "model_served": model.model,
        "status": status,
        "http_status": error[1] if error else 200,
        "error_code": error[0] if error else None,
        "error_message": error[2] if error else None,
        "failed_over": failed_over,
        "prompt_tokens": prompt,
        "cached_tokens": min(cached, prompt),
        "completion_tokens": completion,
        "reasoning_tokens": reasoning,
        "total_tokens": prompt + completion,
        "usage_source": "estimated" if estimated else "provider",
        "latency_ms": round(latency, 2),
        "ttft_ms": round(ttft, 2) if ttft is not None else None,
        "created_at": at,
    }


def seed(engine, book, zone: ZoneInfo, rows: int, days: int = 90, seed_value: int = 1, batch_size: int = 50000,
         progress=lambda n: None) -> int:
    """Insert `rows` priced demo rows, marking their days for the rollup; returns the rows written.

    Rows are priced with `book` exactly as the usage writer prices live rows.
    """
    from aichat.providers.base import Usage

    from .days import local_day
    from .rollup import mark_dirty

    written = 0
    batch: list[dict] = []

    def flush() -> None:
        nonlocal written
        with engine.begin() as conn:
            _bulk_insert(conn, batch)
            mark_dirty(conn, {local_day(r["created_at"], zone) for r in batch})
        written += len(batch)
        progress(len(batch))
        batch.clear()

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the pool keeps this connection: a larger page cache for index upkeep
            conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    for row in generate(rows, days, zone.key, seed_value):
        usage = Usage(row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"])
        row["cost"], row["currency"] = book.cost(usage, row["model_served"], row["created_at"])
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return written


_SQLITE_CACHE_KIB = 256 * 1024


def _bulk_insert(conn, rows: list[dict]) -> None:
    """Rows into the log the fastest way each database takes them: COPY on PostgreSQL, else one executemany.

    Values go through each column's own bind processing (money as SQLite stores it, times as text), so
    the rows read back exactly as rows written by the ORM; what costs time is skipped, not what converts.
    """
    from aichat.models import AIUsageLog

    table = AIUsageLog.__table__
    names = list(rows[0])
    processors = [(i, p) for i, name in enumerate(names)
                  if (p := table.c[name].type._cached_bind_processor(conn.dialect)) is not None]
    values = []
    for row in rows:
        value = list(row.values())
        for i, process in processors:
            value[i] = process(value[i])
        values.append(tuple(value))
    columns = ", ".join(names)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        cursor.close()
    else:
        marks = ", ".join("?" if conn.dialect.paramstyle == "qmark" else "%s" for _ in names)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", values)


def clear(engine, zone: ZoneInfo, batch_size: int = 20000, progress=lambda n: None) -> int:
    """Delete every demo row (request id `demo-…`), marking the days they were on for the rollup.

    Each batch marks the days in its own transaction, so a rollup that ran between two batches
    (a server's background rollup) leaves them marked for the next round.
    """
    from sqlalchemy import delete, func, select

    from aichat.models import AIUsageLog

    from .days import each_day, local_day
    from .rollup import mark_dirty

    is_demo = AIUsageLog.request_id.startswith(DEMO_PREFIX)
    deleted = 0
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(AIUsageLog.created_at), func.max(AIUsageLog.created_at))
                                   .where(is_demo)).one()
    if first is None:
        return 0
    days = set(each_day(local_day(first, zone), local_day(last, zone)))
    while True:
        with engine.begin() as conn:
            ids = select(AIUsageLog.id).where(is_demo).limit(batch_size).scalar_subquery()
            count = conn.execute(delete(AIUsageLog).where(AIUsageLog.id.in_(ids))).rowcount
            if count:
                mark_dirty(conn, days)
        if not count:
            return deleted
        deleted += count
        progress(count)
