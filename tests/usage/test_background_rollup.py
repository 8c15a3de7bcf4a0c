"""The background rounds: one process per interval runs one, and none waits for another's lock."""
from __future__ import annotations

from sqlalchemy import text

from aichat.extensions import db
from aichat.usage.rollup import claim_round


def test_one_round_per_interval_across_processes(make_app):
    """Two apps on one database stand for two workers: the second skips a round the first just ran."""
    first, second = make_app(AICHAT_ROLLUP_INTERVAL=0), make_app(AICHAT_ROLLUP_INTERVAL=0)
    with first.app_context():
        assert claim_round(db.engine, min_gap=60) is True
    with second.app_context():
        assert claim_round(db.engine, min_gap=60) is False
        assert claim_round(db.engine, min_gap=0) is True  # the interval has passed


def test_a_round_is_skipped_not_awaited_while_another_process_rolls_up(make_app):
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    with app.app_context():
        other = db.engine.connect()
        try:
            if other.dialect.name == "postgresql":
                other.execute(text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.aichat-rollup'))"))
            else:
                other.exec_driver_sql("BEGIN IMMEDIATE")
            assert claim_round(db.engine, min_gap=0) is False
        finally:
            other.rollback()
            other.close()
        assert claim_round(db.engine, min_gap=0) is True
