"""Latency percentiles from the rollup's fixed-bucket histogram.

Buckets are (0, 50], (50, 100], … (30000, 60000] ms and an open (60000, ∞) bucket
(LATENCY_BUCKETS_MS). A percentile is found by rank: the bucket where the cumulative count
reaches q × count, then linear interpolation inside that bucket, as if its latencies were
spread evenly between its bounds. A percentile that falls in the open last bucket has no
upper bound to interpolate to: it is reported as that bucket's lower bound (60000 ms), and
the answer says so. The error of any other percentile is at most its bucket's width.
"""
from __future__ import annotations

from collections.abc import Sequence

from aichat.models.usage import LATENCY_BUCKETS_MS


def percentile(counts: Sequence[int], q: float) -> tuple[float | None, bool]:
    """(value in ms, True if it is only a lower bound) for quantile q in (0, 1]; (None, False) when empty."""
    total = sum(counts)
    if total <= 0:
        return None, False
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1]), True
            lower = LATENCY_BUCKETS_MS[i - 1] if i else 0
            upper = LATENCY_BUCKETS_MS[i]
            return round(lower + (upper - lower) * (rank - seen) / n, 1), False
        seen += n
    return float(LATENCY_BUCKETS_MS[-1]), True  # unreachable with q <= 1


def latency(counts: Sequence[int], latency_sum: float, count: int,
            quantiles: Sequence[tuple[str, float]] = (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99))) -> dict:
    """{avg_ms, <quantiles>, count, open_bucket}: open_bucket names the percentiles that are lower bounds."""
    out: dict = {"avg_ms": round(latency_sum / count, 1) if count else None}
    open_bucket = []
    for name, q in quantiles:
        value, is_lower_bound = percentile(counts, q)
        out[name] = value
        if is_lower_bound:
            open_bucket.append(name)
    out["count"] = count
    out["open_bucket"] = open_bucket
    return out
