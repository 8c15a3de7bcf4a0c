"""Latency percentiles from the histogram, narrowed to the exact minimum and maximum."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aichat.models.usage import LATENCY_BUCKETS_MS, LATENCY_COLUMNS
from aichat.usage.histogram import QUANTILES, latency, percentile
from tests.usage.factories import bucket_of

OPEN = LATENCY_BUCKETS_MS[-1]  # where the open last bucket starts
EDGES = [0.0, 0.2, *LATENCY_BUCKETS_MS, *(b + 0.001 for b in LATENCY_BUCKETS_MS), 250000.0]
LATENCIES = st.lists(st.one_of(st.sampled_from(EDGES), st.floats(0, 300000, allow_nan=False)), min_size=1, max_size=60)


def histogram_of(latencies: list[float]) -> list[int]:
    counts = dict.fromkeys(LATENCY_COLUMNS, 0)
    for value in latencies:
        counts[bucket_of(value)] += 1
    return [counts[c] for c in LATENCY_COLUMNS]


def summarise(latencies: list[float], quantiles=QUANTILES) -> dict:
    """What the API reports for these latencies, the rollup having kept their min and max."""
    bounds = (min(latencies), max(latencies))
    return latency(histogram_of(latencies), sum(latencies), len(latencies), bounds, quantiles)


def test_one_request_of_a_fifth_of_a_millisecond_is_reported_as_it_is():
    """The histogram alone puts it at 25 ms, the middle of the (0, 50] bucket; the bounds make it exact."""
    assert percentile(histogram_of([0.2]), 0.5) == 25.0
    out = summarise([0.2])
    assert out == {"avg_ms": 0.2, "min_ms": 0.2, "p50_ms": 0.2, "p95_ms": 0.2, "p99_ms": 0.2, "max_ms": 0.2,
                   "count": 1}


def test_the_bucket_holding_the_minimum_starts_at_it_and_the_one_holding_the_maximum_ends_at_it():
    """(0, 50] becomes [40, 50]; (500, 750] becomes (500, 720]."""
    out = summarise([40.0, 45.0, 700.0, 720.0], [("p25", 0.25), ("p50", 0.5), ("p99", 0.99)])
    assert out["p25"] == 45.0  # rank 1 of the bucket's 2: halfway from the minimum to 50 (25 without it)
    assert out["p50"] == 50.0
    assert out["p99"] == 715.6  # rank 3.96: 1.96 of the last bucket's 2, from 500 towards the maximum


def test_a_percentile_in_the_open_bucket_runs_to_the_maximum():
    """Rank 3.8 of 4 lies 2.8 of 3 into the open bucket: 60000 + 60000 × 2.8 / 3; without bounds, only 60000."""
    latencies = [100.0, 61000.0, 90000.0, 120000.0]
    assert summarise(latencies)["p95_ms"] == 116000.0
    assert summarise(latencies, [("p100", 1.0)])["p100"] == 120000.0
    assert percentile(histogram_of(latencies), 0.95) == float(OPEN)


@given(LATENCIES, st.floats(0.001, 1.0))
def test_property_a_percentile_never_leaves_the_min_and_max(latencies, q):
    out = summarise(latencies, [("p", q), *QUANTILES])
    assert out["min_ms"] <= out["p"] <= out["max_ms"]
    assert out["min_ms"] <= out["p50_ms"] <= out["p95_ms"] <= out["p99_ms"] <= out["max_ms"]


@given(st.lists(st.floats(0, OPEN), max_size=30), st.lists(st.floats(OPEN + 0.001, 300000), min_size=1, max_size=30),
       st.floats(0.01, 1.0))
def test_property_a_percentile_in_the_open_bucket_lies_between_60000_and_the_max(fast, slow, share):
    """q is chosen so that its rank falls `share` of the way through the slow latencies (the open bucket)."""
    latencies = fast + slow
    q = (len(fast) + share * len(slow)) / len(latencies)
    out = summarise(latencies, [("p", q)])
    assert OPEN <= out["p"] <= out["max_ms"]
