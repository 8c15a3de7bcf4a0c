"""Demo rows for large seeds: exactly as many as asked, in time order (indexes grow at their end), none ahead of now."""
from __future__ import annotations

from datetime import datetime, timezone

from aichat.usage import seed


def test_demo_rows_come_in_time_order_exactly_as_many_as_asked_and_none_in_the_future():
    now = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)
    rows = list(seed.generate(20_000, days=10, tz="Asia/Shanghai", now=now))
    assert len(rows) == 20_000
    times = [r["created_at"] for r in rows]
    # A failover's second attempt may cross midnight into the next day's first rows: a few ms, no more.
    assert all(later >= earlier or (earlier - later).total_seconds() < 5 for earlier, later in zip(times, times[1:]))
    assert max(times) <= now
    assert sum(1 for r in rows if r["attempt"] == 2) > 100  # failovers are still there, each after its first attempt


def test_the_same_seed_gives_the_same_rows():
    now = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)
    first = list(seed.generate(500, days=3, now=now, seed=7))
    assert first == list(seed.generate(500, days=3, now=now, seed=7))
    assert first != list(seed.generate(500, days=3, now=now, seed=8))
