"""`flask usage seed-demo`: realistic demo traffic, priced like live rows, rolled up, and removable."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from aichat.extensions import db
from aichat.models import AIUsageLog
from aichat.usage.costing import load_price_book
from aichat.usage.days import local_day, today, usage_zone
from aichat.providers.base import Usage
from tests.usage.factories import assert_stats_equal, expected_stats, log_row, roll_up, stats_by_group, utc, write_logs


def all_rows(app) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(select(AIUsageLog)).scalars().all()
        return [{c.name: getattr(r, c.name) for c in AIUsageLog.__table__.columns} for r in rows]


def test_seed_demo_writes_priced_rows_over_the_days_and_rolls_them_up(make_app):
    app = make_app(AICHAT_TIMEZONE="Asia/Shanghai", AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    result = app.test_cli_runner().invoke(args=["usage", "seed-demo", "--rows", "3000", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Wrote 3000 demo rows over 30 days" in result.stdout
    rows = all_rows(app)
    assert len(rows) == 3000 and all(r["request_id"].startswith("demo-") for r in rows)
    days = {local_day(r["created_at"], zone) for r in rows}
    assert min(days) >= today(zone) - timedelta(days=29) and max(days) <= today(zone)
    assert len(days) >= 25, "spread over the period"
    assert {r["status"] for r in rows} == {"success", "error", "cancelled"}
    assert {r["usage_source"] for r in rows} == {"provider", "estimated"}
    # Priced exactly as the usage writer prices live rows; the unpriced model stays NULL.
    with app.app_context():
        book = load_price_book()
    for r in rows:
        usage = Usage(r["prompt_tokens"], r["completion_tokens"], r["cached_tokens"])
        assert (r["cost"], r["currency"]) == book.cost(usage, r["model_served"], r["created_at"])
    assert any(r["cost"] is None and r["model_served"] == "deepseek-chat" for r in rows)
    # Two upstreams of the OpenAI kind: the environment's, and an OpenAI-compatible one of its own name.
    assert {(r["upstream"], r["provider"]) for r in rows} == {("openai", "openai"), ("gemini", "gemini"),
                                                              ("deepseek", "openai")}
    assert all(r["key_label"].startswith(r["upstream"] + "#") for r in rows)
    # The rollup is current and exact.
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))


def test_seed_demo_refuses_a_log_with_real_traffic_unless_forced(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    write_logs(app, [log_row(utc(2026, 1, 5, 12), request_id="real-1")])
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["usage", "seed-demo", "--rows", "10"])
    assert refused.exit_code == 1 and "real traffic" in refused.output
    assert len(all_rows(app)) == 1
    assert runner.invoke(args=["usage", "seed-demo", "--rows", "10", "--force"]).exit_code == 0
    assert len(all_rows(app)) == 11


def test_seed_demo_clear_removes_only_demo_rows_and_their_figures(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    real = log_row(utc(2026, 1, 5, 12), request_id="real-1")
    write_logs(app, [real])
    runner = app.test_cli_runner()
    assert runner.invoke(args=["usage", "seed-demo", "--rows", "500", "--days", "7", "--force"]).exit_code == 0
    cleared = runner.invoke(args=["usage", "seed-demo", "--clear"])
    assert cleared.exit_code == 0 and "Deleted 500 demo rows" in cleared.stdout
    rows = all_rows(app)
    assert [r["request_id"] for r in rows] == ["real-1"]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AIUsageLog)).scalar_one() == 1
    assert_stats_equal(stats_by_group(app), expected_stats(rows, zone))


def test_a_rollup_between_two_clear_batches_leaves_no_stale_figures(make_app):
    """A server's background rollup runs while --clear is half done: the rest must still be rolled up."""
    from aichat.usage import rollup, seed

    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    zone = usage_zone(app.config)
    write_logs(app, [log_row(utc(2026, 1, 5, 12) + timedelta(minutes=i), request_id=f"demo-{i}") for i in range(30)])
    roll_up(app)
    with app.app_context():
        seed.clear(db.engine, zone, batch_size=10, progress=lambda n: rollup.rollup_pending(db.engine, zone))
    roll_up(app)
    assert all_rows(app) == []
    assert stats_by_group(app) == {}
