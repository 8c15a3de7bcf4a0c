"""Latency percentiles from the rollup's fixed-bucket histogram and the exact minimum and maximum.

Buckets are (0, 50], (50, 100], … (30000, 60000] ms and an open (60000, ∞) bucket
(LATENCY_BUCKETS_MS). No latency lies below the minimum or above the maximum, so both narrow
the buckets: the bucket holding the minimum starts at it, the one holding the maximum ends at
it, and the open bucket runs from 60000 to the maximum. A percentile is found by rank: the
bucket where the cumulative count reaches q × count, then linear interpolation between that
bucket's narrowed edges, as if its latencies were spread evenly between them, clamped to
[min, max]. A single latency is thus reported exactly, and the error of any percentile is at
most the width of its narrowed bucket.

Without the bounds (part of the period was rolled up before they were kept and its logs are
gone) the buckets keep their own edges and a percentile in the open bucket is reported as
60000 ms, a lower bound; min_ms and max_ms are null then, which says so.
"""
from __future__ import annotations

from collections.abc import Sequence

from aichat.models.usage import LATENCY_BUCKETS_MS

QUANTILES = (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99))
Bounds = tuple[float, float]  # the exact (min, max) latency


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _clamp(value: float, bounds: Bounds) -> float:
    return min(max(value, bounds[0]), bounds[1])


def _edges(i: int, bounds: Bounds | None) -> tuple[float, float | None]:
    """Bucket i's edges, narrowed to the bounds when known; the open bucket has no upper edge without them."""
    lower = float(LATENCY_BUCKETS_MS[i - 1]) if i else 0.0
    if i < len(LATENCY_BUCKETS_MS):
        upper = float(LATENCY_BUCKETS_MS[i])
    elif bounds is not None:
        upper = bounds[1]
    else:
        return lower, None
    return (lower, upper) if bounds is None else (_clamp(lower, bounds), _clamp(upper, bounds))


def percentile(counts: Sequence[int], q: float, bounds: Bounds | None = None) -> float | None:
    """The latency in ms at quantile q in (0, 1], never outside the bounds when known; None when empty."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = min(q * total, total)
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            break
        seen += n
    lower, upper = _edges(i, bounds)
    if upper is None:
        return lower  # 60000: a lower bound, the open bucket's only edge
    value = lower + (upper - lower) * (rank - seen) / n
    return _ms(value if bounds is None else _clamp(value, bounds))  # edges within bounds; this catches float error


def latency(counts: Sequence[int], latency_sum: float, count: int, bounds: Bounds | None,
            quantiles: Sequence[tuple[str, float]] = QUANTILES) -> dict:
    """{avg_ms, min_ms, <quantiles>, max_ms, count}; min_ms and max_ms are null when the bounds are unknown."""
    low, high = bounds or (None, None)
    out: dict = {"avg_ms": _ms(latency_sum / count) if count else None, "min_ms": _ms(low)}
    for name, q in quantiles:
        out[name] = percentile(counts, q, bounds)
    out["max_ms"] = _ms(high)
    out["count"] = count
    return out
