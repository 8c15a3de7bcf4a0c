"""Usage rows for tests: build log rows, write them the way the gateway does, and aggregate them
in plain Python by the rollup's definitions, to compare with what the database computed."""
from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select, text

from aichat.extensions import db
from aichat.models.usage import LATENCY_BUCKETS_MS, LATENCY_COLUMNS, TTFT_COLUMNS, AIUsageStats
from aichat.usage.days import local_day, usage_zone
from aichat.usage.rollup import rollup_pending
from aichat.usage.store import batch_writer

_ids = itertools.count(1)
USAGE_TABLES = ("ai_usage_log", "ai_usage_stats", "ai_usage_dirty_day", "ai_usage_rollup_state")
GROUP = ("day", "site_domain", "upstream", "provider", "model", "caller", "currency")
STAT_FIELDS = ("attempts", "requests", "successes", "errors", "cancelled", "failovers", "streams",
               "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "cost", "unpriced",
               "estimated", "latency_sum_ms", "latency_count", "latency_min_ms", "latency_max_ms") + LATENCY_COLUMNS
TTFT_FIELDS = ("ttft_sum_ms", "ttft_count") + TTFT_COLUMNS  # since revision 0013


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def log_row(created_at: datetime, **overrides) -> dict:
    """A complete usage log row (a successful, priced JSON call) with overrides.

    Its upstream is named after its provider (kind), as the environment's upstreams are, unless given.
    """
    row = {
        "request_id": f"req-{next(_ids)}", "attempt": 1, "site_domain": "shop.example.com", "caller": None,
        "endpoint": "ai-proxy", "provider": "openai", "key_label": "openai#1", "model_requested": "gpt-4o-mini",
        "model_served": "gpt-4o-mini", "stream": False, "status": "success", "http_status": 200,
        "error_code": None, "error_message": None, "failed_over": False, "prompt_tokens": 10, "cached_tokens": 0,
        "completion_tokens": 5, "reasoning_tokens": 0, "total_tokens": 15, "usage_source": "provider",
        "cost": Decimal("0.0000150000"), "currency": "USD", "latency_ms": 120.0, "ttft_ms": None,
        "created_at": created_at,
    }
    row.update(overrides)
    row.setdefault("upstream", row["provider"])
    return row


def write_logs(app, rows: list[dict]) -> None:
    """Insert rows with the real batch writer (one transaction, days marked dirty); costs given are kept."""
    if rows:
        batch_writer(app)([dict(r) for r in rows])


def roll_up(app):
    with app.app_context():
        return rollup_pending(db.engine, usage_zone(app.config))


def clear_usage(app) -> None:
    with app.app_context():
        for table in USAGE_TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()


def stats_by_group(app) -> dict[tuple, dict]:
    """Every AIUsageStats row, keyed by its group."""
    with app.app_context():
        rows = db.session.execute(select(AIUsageStats)).scalars().all()
        return {tuple(getattr(r, k) for k in GROUP): {f: getattr(r, f) for f in STAT_FIELDS + TTFT_FIELDS}
                for r in rows}


def bucket_of(latency: float, columns=LATENCY_COLUMNS) -> str:
    for bound, column in zip(LATENCY_BUCKETS_MS, columns):
        if latency <= bound:
            return column
    return columns[-1]


def expected_stats(rows: list[dict], zone, ttft: bool = True) -> dict[tuple, dict]:
    """The rollup's definitions applied to `rows` in plain Python (ttft=False: as before revision 0013)."""
    empty = {**dict.fromkeys(STAT_FIELDS + (TTFT_FIELDS if ttft else ()), 0), "cost": Decimal(0),
             "latency_min_ms": None, "latency_max_ms": None}
    out: dict[tuple, dict] = defaultdict(lambda: dict(empty))
    for r in rows:
        key = (local_day(r["created_at"], zone), r["site_domain"], r["upstream"], r["provider"],
               r["model_served"] or "", r["caller"] or "", r["currency"] or "")
        s = out[key]
        s["attempts"] += 1
        s["requests"] += r["attempt"] == 1
        s["successes"] += r["status"] == "success"
        s["errors"] += r["status"] == "error"
        s["cancelled"] += r["status"] == "cancelled"
        s["failovers"] += bool(r["failed_over"])
        s["streams"] += bool(r["stream"])
        for t in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
            s[t] += r[t]
        if r["cost"] is not None:
            s["cost"] += r["cost"]
        s["unpriced"] += r["cost"] is None and r["prompt_tokens"] + r["completion_tokens"] > 0
        s["estimated"] += r["usage_source"] == "estimated"
        latency = r["latency_ms"]
        if r["status"] == "success" and latency is not None:
            s["latency_sum_ms"] += latency
            s["latency_count"] += 1
            s["latency_min_ms"] = latency if s["latency_min_ms"] is None else min(s["latency_min_ms"], latency)
            s["latency_max_ms"] = latency if s["latency_max_ms"] is None else max(s["latency_max_ms"], latency)
            s[bucket_of(latency)] += 1
        first_token = r.get("ttft_ms")
        if ttft and r["status"] == "success" and r["stream"] and first_token is not None:
            s["ttft_sum_ms"] += first_token
            s["ttft_count"] += 1
            s[bucket_of(first_token, TTFT_COLUMNS)] += 1
    return dict(out)


def assert_stats_equal(actual: dict[tuple, dict], expected: dict[tuple, dict]) -> None:
    """Field by field: counts and tokens exact, cost exact (Decimal), latency sums to float precision."""
    assert set(actual) == set(expected)
    for key, want in expected.items():
        got = actual[key]
        for field, value in want.items():
            if field in ("latency_sum_ms", "ttft_sum_ms"):
                assert abs(got[field] - value) <= 1e-6 * max(1.0, abs(value)), (key, field)
            else:
                assert got[field] == value, (key, field, got[field], value)
