"""The usage writer and a record that does not name its upstream."""
from __future__ import annotations

from sqlalchemy import select

from aichat.extensions import db
from aichat.models import AIUsageLog
from tests.usage.factories import log_row, utc, write_logs


def test_a_record_without_an_upstream_is_named_after_its_kind_and_a_named_one_keeps_its_name(app):
    """A record from before upstreams had names gets upstream = provider; one that names it is written as it is."""
    unnamed = {k: v for k, v in log_row(utc(2026, 1, 5, 9), provider="gemini", request_id="a").items()
               if k != "upstream"}
    named = log_row(utc(2026, 1, 5, 9), upstream="deepseek", request_id="b")
    write_logs(app, [unnamed, named])
    with app.app_context():
        rows = db.session.execute(select(AIUsageLog.request_id, AIUsageLog.upstream, AIUsageLog.provider)
                                  .order_by(AIUsageLog.request_id)).all()
    assert [tuple(r) for r in rows] == [("a", "gemini", "gemini"), ("b", "deepseek", "openai")]
