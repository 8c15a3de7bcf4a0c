"""The daily rollup: exact, idempotent, safe under concurrency, cut in the configured time zone."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert, select

from aichat.extensions import db
from aichat.models import AIUsageLog, UsageDirtyDay, UsageRollupState
from aichat.models.usage import LATENCY_BUCKETS_MS, TTFT_COLUMNS
from aichat.usage import rollup
from aichat.usage.days import UTC, day_bounds, day_start, local_day, today, usage_zone
from tests.usage.factories import (assert_stats_equal, clear_usage, expected_stats, log_row, roll_up,
                                   stats_by_group, utc, write_logs)

DAY = date(2026, 3, 7)
ROOT = Path(__file__).resolve().parents[2]


def dirty(app) -> dict[date, int]:
    with app.app_context():
        return {d.day: d.version for d in db.session.execute(select(UsageDirtyDay)).scalars()}


def sample_rows(zone: ZoneInfo) -> list[dict]:
    """A small mixed set over three local days, some rows a microsecond either side of midnight."""
    midnight = day_start(DAY, zone)
    return [
        log_row(midnight - timedelta(microseconds=1), latency_ms=49.0),
        log_row(midnight, latency_ms=50.0, cost=Decimal("0.1234567891")),
        log_row(midnight + timedelta(hours=3), status="error", attempt=1, failed_over=True, latency_ms=30.0,
                cost=None, currency=None, prompt_tokens=0, completion_tokens=0),
        log_row(midnight + timedelta(hours=3, seconds=1), attempt=2, provider="gemini",
                model_served="gemini-2.5-flash", latency_ms=70000.0, stream=True),
        log_row(midnight + timedelta(hours=5), cost=None, currency=None, usage_source="estimated",
                caller="key:abc", model_served=None),
        log_row(midnight + timedelta(hours=6), status="cancelled", latency_ms=None, currency="EUR",
                cost=Decimal("0.0000000001")),
        log_row(midnight + timedelta(days=1) - timedelta(microseconds=1), site_domain="help.example.com"),
        log_row(midnight + timedelta(days=1), site_domain="help.example.com", latency_ms=1500.0),
        # Two more upstreams, each of a kind that an environment-defined one has too.
        log_row(midnight + timedelta(hours=7), upstream="deepseek", model_served="deepseek-chat", latency_ms=640.0),
        log_row(midnight + timedelta(hours=8), upstream="gemini-eu", provider="gemini", latency_ms=210.0,
                model_served="gemini-2.5-flash", stream=True),
    ]


# --- exact ------------------------------------------------------------------------------------

def test_the_rollup_equals_the_raw_aggregation(app):
    """Do per-group sums, boundaries at local midnight and each histogram bucket match the logs?"""
    zone = usage_zone(app.config)
    rows = sample_rows(zone)
    write_logs(app, rows)
    result = roll_up(app)
    assert result.days == 3 and not dirty(app)
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))


def test_two_upstreams_of_one_kind_roll_up_apart(app):
    """The same site, kind, model, caller and currency on one day, through two upstreams: two stats rows."""
    zone = usage_zone(app.config)
    at = day_start(DAY, zone) + timedelta(hours=9)
    rows = [log_row(at, latency_ms=100.0), log_row(at, latency_ms=300.0, cost=Decimal("0.5")),
            log_row(at, upstream="deepseek", latency_ms=900.0, status="error", failed_over=True)]
    write_logs(app, rows)
    roll_up(app)
    stats = stats_by_group(app)
    assert set(stats) == {(DAY, "shop.example.com", name, "openai", "gpt-4o-mini", "", "USD")
                          for name in ("openai", "deepseek")}
    by_upstream = {key[2]: value for key, value in stats.items()}
    assert (by_upstream["openai"]["attempts"], by_upstream["openai"]["errors"]) == (2, 0)
    assert by_upstream["openai"]["cost"] == Decimal("0.5000150000")
    assert (by_upstream["openai"]["latency_min_ms"], by_upstream["openai"]["latency_max_ms"]) == (100.0, 300.0)
    assert (by_upstream["deepseek"]["attempts"], by_upstream["deepseek"]["errors"]) == (1, 1)
    assert by_upstream["deepseek"]["failovers"] == 1 and by_upstream["deepseek"]["latency_count"] == 0
    assert_stats_equal(stats, expected_stats(rows, zone))


def test_time_to_first_token_counts_successful_streams_only(app):
    """Is the first token's histogram over successful streamed attempts that have one, each on its bucket edge?"""
    zone = usage_zone(app.config)
    at = day_start(DAY, zone) + timedelta(hours=9)
    rows = [log_row(at, stream=True, ttft_ms=50.0), log_row(at, stream=True, ttft_ms=50.001),
            log_row(at, stream=True, ttft_ms=61000.0), log_row(at, stream=True, ttft_ms=None),
            log_row(at, stream=True, status="error", ttft_ms=20.0),  # failed after its first token: not counted
            log_row(at, stream=False, ttft_ms=30.0)]  # a JSON answer's whole latency is no first token
    write_logs(app, rows)
    roll_up(app)
    (only,) = stats_by_group(app).values()
    assert only["ttft_count"] == 3 and only["ttft_sum_ms"] == pytest.approx(61100.001)
    assert (only["ttft_le_50"], only["ttft_le_100"], only["ttft_le_inf"]) == (1, 1, 1)
    assert sum(only[c] for c in TTFT_COLUMNS) == 3
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))
    write_logs(app, [log_row(at, site_domain="help.example.com")])  # no streams: a count of 0, never unknown
    roll_up(app)
    assert sorted(v["ttft_count"] for v in stats_by_group(app).values()) == [0, 3]


BOUNDARY_LATENCIES = [0.0, *LATENCY_BUCKETS_MS, *(b + 0.001 for b in LATENCY_BUCKETS_MS), 61000.5, 250000.0]
OFFSETS = [timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1), timedelta(seconds=-1),
           timedelta(hours=1), timedelta(hours=12), timedelta(hours=23, minutes=59, seconds=59)]
COSTS = st.integers(0, 10**13).map(lambda n: Decimal(n).scaleb(-10))
# Upstreams by name and kind: the environment's two, and others of the same kinds.
UPSTREAMS = [{"upstream": name, "provider": kind} for name, kind in
             (("openai", "openai"), ("deepseek", "openai"), ("qwen", "openai"), ("gemini", "gemini"),
              ("gemini-eu", "gemini"))]


@st.composite
def usage_row(draw, zone_name: str):
    zone = ZoneInfo(zone_name)
    created = day_start(DAY + timedelta(days=draw(st.integers(-2, 2))), zone) + draw(st.sampled_from(OFFSETS))
    cost = draw(st.one_of(st.none(), COSTS))
    return log_row(
        created,
        site_domain=draw(st.sampled_from(["shop.example.com", "help.example.com", "unknown"])),
        **draw(st.sampled_from(UPSTREAMS)),
        model_served=draw(st.sampled_from(["gpt-4o-mini", "gemini-2.5-flash", "o4-mini", None])),
        caller=draw(st.sampled_from([None, "key:3f1a2b9c0d", "key:9e8d7c6b5a"])),
        attempt=draw(st.integers(1, 3)),
        status=draw(st.sampled_from(["success", "success", "error", "cancelled"])),
        failed_over=draw(st.booleans()),
        stream=draw(st.booleans()),
        prompt_tokens=draw(st.sampled_from([0, 1, 977, 200001])),
        cached_tokens=draw(st.integers(0, 500)),
        completion_tokens=draw(st.sampled_from([0, 3, 4096])),
        reasoning_tokens=draw(st.integers(0, 300)),
        usage_source=draw(st.sampled_from(["provider", "estimated"])),
        cost=cost,
        currency=None if cost is None else draw(st.sampled_from(["USD", "EUR"])),
        latency_ms=draw(st.one_of(st.none(), st.sampled_from(BOUNDARY_LATENCIES),
                                  st.floats(0, 120000, allow_nan=False))),
        ttft_ms=draw(st.one_of(st.none(), st.sampled_from(BOUNDARY_LATENCIES),
                               st.floats(0, 120000, allow_nan=False))),
    )


@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Shanghai"])
def test_property_the_rollup_equals_aggregating_the_logs(make_app, zone_name):
    """For generated rows (every status, NULL and 10-decimal costs, latencies on every bucket edge,
    instants around local midnight, several upstreams of one kind), does each stats row equal the
    plain-Python aggregation?"""
    app = make_app(AICHAT_TIMEZONE=zone_name, AICHAT_ROLLUP_INTERVAL=0)
    zone = ZoneInfo(zone_name)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(usage_row(zone_name), max_size=25))
    def check(rows):
        clear_usage(app)
        write_logs(app, rows)
        roll_up(app)
        assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))
        assert not dirty(app)

    check()


# --- idempotent and safe under concurrency ------------------------------------------------------

def test_running_twice_changes_nothing(app):
    zone = usage_zone(app.config)
    write_logs(app, sample_rows(zone))
    roll_up(app)
    once = stats_by_group(app)
    with app.app_context():
        days = rollup.days_between(DAY - timedelta(days=1), DAY + timedelta(days=1))
        again = rollup.rollup_days(db.engine, zone, days)
    assert again.days == 3
    assert stats_by_group(app) == once


def test_two_concurrent_rollups_equal_one(make_app):
    """Two apps (two engines, two connection pools: like two processes) recompute the same days at once."""
    apps = [make_app(AICHAT_ROLLUP_INTERVAL=0) for _ in range(2)]
    zone = usage_zone(apps[0].config)
    rows = [log_row(day_start(DAY, zone) + timedelta(minutes=7 * i), site_domain=f"s{i % 5}.example",
                    latency_ms=float(i * 37 % 9000)) for i in range(300)]
    write_logs(apps[0], rows)
    days = rollup.days_between(DAY - timedelta(days=1), DAY + timedelta(days=2))
    start = threading.Barrier(2)
    errors = []

    def run(app):
        try:
            start.wait()
            with app.app_context():
                for _ in range(3):
                    rollup.rollup_days(db.engine, zone, days)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_stats_equal(stats_by_group(apps[0]), expected_stats(rows, zone))


def test_two_rollup_processes_at_once_equal_one(make_app, database_url):
    """Two `flask usage rollup --all` processes over the same months of days, started together."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    rows = [log_row(day_start(DAY, zone) + timedelta(hours=5 * i), provider=("openai", "gemini")[i % 2],
                    latency_ms=float(i * 311 % 70000)) for i in range(200)]
    write_logs(app, rows)
    env = {**os.environ, "DATABASE_URL": database_url, "AICHAT_ROLLUP_INTERVAL": "0", "SECRET_KEY": "test"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "usage", "rollup", "--all"]
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("Rolled up" in out for out, _ in outputs)
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))
    assert not dirty(app)


def test_a_batch_written_during_a_rollup_keeps_its_day_dirty(make_app):
    """A batch lands after the rollup read the day's rows, before it clears the mark: the mark must stay."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    first = [log_row(day_start(DAY, zone) + timedelta(hours=1))]
    late = [log_row(day_start(DAY, zone) + timedelta(hours=2), cost=Decimal("1.5"))]
    write_logs(app, first)
    with app.app_context():
        (seen,) = rollup.dirty_days(db.engine)
    writer = threading.Thread(target=write_logs, args=(app, late))

    def write_after_aggregate(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO AI_USAGE_STATS") and not writer.is_alive():
            writer.start()
            if conn.dialect.name == "postgresql":
                writer.join()  # it commits while our transaction is still open
            # On SQLite the writer waits for our write lock and commits right after us.

    with app.app_context():
        event.listen(db.engine, "after_cursor_execute", write_after_aggregate)
        try:
            rollup.recompute_day(db.engine, seen[0], zone, seen[1])
        finally:
            event.remove(db.engine, "after_cursor_execute", write_after_aggregate)
    writer.join()
    assert DAY in dirty(app), "the late batch's day must still be marked"
    roll_up(app)
    assert not dirty(app)
    assert_stats_equal(stats_by_group(app), expected_stats(first + late, zone))


def test_rollups_racing_a_busy_writer_lose_nothing(make_app):
    """Batches keep arriving while rollups run in a loop; once both stop, one more rollup is exact."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    batches = [[log_row(day_start(DAY + timedelta(days=b % 2), zone) + timedelta(seconds=b * 10 + i),
                        latency_ms=float(b * 100 + i)) for i in range(5)] for b in range(30)]
    done = threading.Event()

    def write_all():
        for batch in batches:
            write_logs(app, batch)
        done.set()

    writer = threading.Thread(target=write_all)
    writer.start()
    rounds = 0
    while not done.is_set() or rounds == 0:
        roll_up(app)
        rounds += 1
    writer.join()
    roll_up(app)
    assert not dirty(app)
    assert_stats_equal(stats_by_group(app), expected_stats([r for b in batches for r in b], zone))


def test_the_writer_marks_each_local_day_and_bumps_the_version(make_app):
    app = make_app(AICHAT_TIMEZONE="Asia/Shanghai", AICHAT_ROLLUP_INTERVAL=0)
    # 15:59:59 UTC is 23:59:59 in Shanghai; 16:00 UTC is already the next day there.
    write_logs(app, [log_row(utc(2026, 3, 7, 15, 59, 59)), log_row(utc(2026, 3, 7, 16, 0, 0))])
    assert dirty(app) == {date(2026, 3, 7): 1, date(2026, 3, 8): 1}
    write_logs(app, [log_row(utc(2026, 3, 7, 17, 0, 0))])
    assert dirty(app) == {date(2026, 3, 7): 1, date(2026, 3, 8): 2}


# --- time zones -------------------------------------------------------------------------------

def test_days_are_cut_in_the_configured_zone_and_a_zone_change_rebuilds(make_app, caplog):
    """The same rows give one UTC day but two Shanghai days; switching the setting rebuilds the stats."""
    rows = [log_row(utc(2026, 3, 7, 15, 30)), log_row(utc(2026, 3, 7, 16, 30), cost=Decimal("0.25"))]
    in_utc = make_app(AICHAT_ROLLUP_INTERVAL=0)
    write_logs(in_utc, rows)
    roll_up(in_utc)
    assert {k[0] for k in stats_by_group(in_utc)} == {date(2026, 3, 7)}

    in_shanghai = make_app(AICHAT_TIMEZONE="Asia/Shanghai", AICHAT_ROLLUP_INTERVAL=0)
    with caplog.at_level("WARNING", logger="aichat.usage.rollup"):
        roll_up(in_shanghai)
    assert "rebuilding" in caplog.text
    by_day = {k[0]: v for k, v in stats_by_group(in_shanghai).items()}
    assert set(by_day) == {date(2026, 3, 7), date(2026, 3, 8)}
    assert by_day[date(2026, 3, 8)]["cost"] == Decimal("0.25")
    assert_stats_equal(stats_by_group(in_shanghai), expected_stats(rows, ZoneInfo("Asia/Shanghai")))
    with in_shanghai.app_context():
        assert db.session.get(UsageRollupState, "timezone").value == "Asia/Shanghai"

    roll_up(in_utc)  # and back again
    assert_stats_equal(stats_by_group(in_utc), expected_stats(rows, UTC))


def test_the_first_rollup_also_covers_logs_written_before_rollups_existed(make_app):
    """Rows inserted with no dirty mark (an install upgraded from before the rollup) are rolled up once."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    rows = sample_rows(zone)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(insert(AIUsageLog), rows)
    assert dirty(app) == {}
    roll_up(app)
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))


def test_day_bounds_follow_daylight_saving_time():
    zone = ZoneInfo("America/New_York")
    short = day_bounds(date(2026, 3, 8), zone)  # clocks go forward: 23 hours
    long = day_bounds(date(2026, 11, 1), zone)  # clocks go back: 25 hours
    assert short[1] - short[0] == timedelta(hours=23)
    assert long[1] - long[0] == timedelta(hours=25)
    assert short[0] == datetime(2026, 3, 8, 5, tzinfo=UTC)
    # Where midnight itself is skipped (Chile, September), the day starts at the first instant that exists.
    santiago = ZoneInfo("America/Santiago")
    start, end = day_bounds(date(2026, 9, 6), santiago)
    assert (start, end - start) == (datetime(2026, 9, 6, 4, tzinfo=UTC), timedelta(hours=23))
    assert local_day(start, santiago) == date(2026, 9, 6)
    assert local_day(start - timedelta(microseconds=1), santiago) == date(2026, 9, 5)


def test_an_unknown_zone_is_refused_at_start(make_app):
    with pytest.raises(ValueError, match="AICHAT_TIMEZONE"):
        make_app(AICHAT_TIMEZONE="Mars/Olympus_Mons")


# --- keeping itself current -----------------------------------------------------------------

def test_the_background_rollup_shows_a_live_call_in_the_summary(gateway_app, make_admin):
    """No operator: a chat call reaches /summary through the writer and the background rollup."""
    app = gateway_app(AICHAT_ROLLUP_INTERVAL=0.2)
    _, token = make_admin(app)
    client = app.test_client()
    answer = client.post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    deadline = time.monotonic() + 60
    summary = {}
    while time.monotonic() < deadline:
        summary = client.get("/api/v1/ai-monitoring/summary?days=1",
                             headers={"Authorization": f"Bearer {token}"}).get_json()
        if summary["requests"] == 1:
            break
        time.sleep(0.1)
    assert summary["requests"] == 1 and summary["successes"] == 1
    assert summary["tokens"]["total"] > 0


# --- the command --------------------------------------------------------------------------------

def test_flask_usage_rollup_recomputes_dirty_days_or_a_range(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    rows = sample_rows(zone)
    write_logs(app, rows)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["usage", "rollup"])
    assert first.exit_code == 0, first.output
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))
    assert f"Rolled up 3 days (UTC): {len(stats_by_group(app))} stats rows." in first.stdout
    nothing = runner.invoke(args=["usage", "rollup"])
    assert "Rolled up 0 days" in nothing.stdout
    since = runner.invoke(args=["usage", "rollup", "--since", (today(zone) - timedelta(days=2)).isoformat()])
    assert since.exit_code == 0 and "Rolled up 3 days" in since.stdout
    everything = runner.invoke(args=["usage", "rollup", "--all"])
    assert everything.exit_code == 0
    assert f"Rolled up {(today(zone) - (DAY - timedelta(days=1))).days + 1} days" in everything.stdout
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))


@pytest.mark.parametrize("since", ["2026-02-30", "yesterday", "2026-3-1"])
def test_flask_usage_rollup_refuses_a_bad_date(app, since):
    result = app.test_cli_runner().invoke(args=["usage", "rollup", "--since", since])
    assert result.exit_code == 1 and "--since" in result.output
