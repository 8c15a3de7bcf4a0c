"""Retention: `flask usage prune` deletes whole old days of logs and keeps their rollups."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from aichat.extensions import db
from aichat.models import AIUsageLog, UsageRollupState
from aichat.usage import rollup
from aichat.usage.days import day_start, today, usage_zone
from aichat.usage.rollup import mark_dirty
from tests.usage.factories import assert_stats_equal, expected_stats, log_row, roll_up, stats_by_group, write_logs


def log_times(app) -> list:
    with app.app_context():
        return sorted(db.session.execute(select(AIUsageLog.request_id)).scalars())


def old_and_new_rows(zone):
    """Rows 100 and 91 days back, a microsecond either side of the start of the day 90 days back, and today."""
    cutoff = day_start(today(zone) - timedelta(days=90), zone)
    return cutoff, [
        log_row(cutoff - timedelta(days=10), request_id="d100", cost=Decimal("0.1000000001")),
        log_row(cutoff - timedelta(days=1), request_id="d91", status="error", latency_ms=None),
        log_row(cutoff - timedelta(microseconds=1), request_id="just-before"),
        log_row(cutoff, request_id="just-after"),
        log_row(day_start(today(zone), zone), request_id="today"),
    ]


@pytest.mark.parametrize("zone_name", ["UTC", "Asia/Shanghai"])
def test_prune_deletes_whole_old_days_and_keeps_their_rollups(make_app, zone_name):
    app = make_app(AICHAT_TIMEZONE=zone_name, AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    cutoff, rows = old_and_new_rows(zone)
    write_logs(app, rows)
    # No rollup has run yet: prune must bring the old days' stats up to date before deleting.
    result = app.test_cli_runner().invoke(args=["usage", "prune", "--older-than", "90d", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert "Deleted 3 log rows" in result.stdout
    assert log_times(app) == ["just-after", "today"]
    roll_up(app)
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))  # the pruned days' stats included
    with app.app_context():
        assert db.session.get(UsageRollupState, "pruned_before") is not None


def test_the_rollup_never_recomputes_a_pruned_day(make_app, caplog):
    """A dirty mark or a --since range before the horizon leaves the kept stats alone."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    cutoff, rows = old_and_new_rows(zone)
    write_logs(app, rows)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["usage", "prune", "--older-than", "90d"]).exit_code == 0
    kept = stats_by_group(app)
    old_day = (today(zone) - timedelta(days=100))
    with app.app_context():
        with db.engine.begin() as conn:
            mark_dirty(conn, [old_day])
    with caplog.at_level("WARNING", logger="aichat.usage.rollup"):
        result = roll_up(app)
        since = runner.invoke(args=["usage", "rollup", "--since", (today(zone) - timedelta(days=120)).isoformat()])
    assert result.skipped == 1 and "pruned" in caplog.text
    assert since.exit_code == 0 and "their logs were pruned" in since.output
    assert stats_by_group(app) == kept
    with app.app_context():
        assert rollup.dirty_days(db.engine) == []


def test_a_dry_run_changes_nothing(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    _, rows = old_and_new_rows(usage_zone(app.config))
    write_logs(app, rows)
    result = app.test_cli_runner().invoke(args=["usage", "prune", "--older-than", "90d", "--dry-run"])
    assert result.exit_code == 0 and "Would delete 3 log rows" in result.stdout
    assert len(log_times(app)) == 5
    assert stats_by_group(app) == {}
    with app.app_context():
        assert db.session.get(UsageRollupState, "pruned_before") is None


def test_the_horizon_never_moves_back(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    _, rows = old_and_new_rows(usage_zone(app.config))
    write_logs(app, rows)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["usage", "prune", "--older-than", "30d"]).exit_code == 0
    with app.app_context():
        first = db.session.get(UsageRollupState, "pruned_before").value
    assert runner.invoke(args=["usage", "prune", "--older-than", "365d"]).exit_code == 0
    with app.app_context():
        assert db.session.get(UsageRollupState, "pruned_before").value == first
        assert db.session.execute(select(func.count()).select_from(AIUsageLog)).scalar_one() == 1


@pytest.mark.parametrize("value", ["0d", "abc", "-5d", "90", "1.5d", "d", "90 days"])
def test_a_bad_age_is_a_clear_error(app, value):
    result = app.test_cli_runner().invoke(args=["usage", "prune", "--older-than", value])
    assert result.exit_code == 1
    assert "--older-than takes a whole number of days" in result.output
