"""Does every page of the explorer read an index in order, on this database, whatever the filter and page?

The planner is asked for each page query's plan with sorting and whole-table scans discouraged (PostgreSQL)
or as it comes (SQLite, which plans without statistics here as in most installs): a plan that still sorts
or scans the table means no index serves that filter in (created_at, id) order.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from aichat.extensions import db
from aichat.usage import explorer
from aichat.usage.explorer import Cursor, Filters
from tests.usage.factories import utc

START, END = utc(2026, 3, 1), utc(2026, 3, 31)
FILTERS = [{}, {"site": "shop.example.com"}, {"upstream": "gemini"}, {"status": "error"}, {"model": "gpt-4o"},
           {"error_code": "upstream_timeout"}, {"caller": "key:abc"}, {"site": "shop.example.com", "status": "error"}]
CURSORS = [None, Cursor(utc(2026, 3, 20), 12345, older=True), Cursor(utc(2026, 3, 20), 12345, older=False)]


def plan(query) -> str:
    conn = db.session.connection()
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


@pytest.mark.parametrize("where", FILTERS, ids=lambda w: ",".join(w) or "none")
def test_each_filter_pages_by_an_index_in_order_without_sorting(app, where):
    with app.app_context():
        for cursor in CURSORS:
            for query in explorer.page_queries(Filters(START, END, **where), cursor):
                text = plan(query)
                assert "ai_usage_log" in text and "ix_ai_usage_log_" in text, text
                for bad in ("Sort", "Seq Scan", "TEMP B-TREE", "SCAN ai_usage_log"):
                    assert bad not in text, (where, cursor, text)
        db.session.rollback()


def test_the_500th_page_starts_its_scan_at_the_cursor_not_at_the_end_of_the_range(app):
    """The range's end must not be the scan's bound beside the cursor's (a scan over 499 pages first)."""
    cursor = Cursor(START + timedelta(days=3), 99, older=True)
    with app.app_context():
        (query,) = explorer.page_queries(Filters(START, END), cursor)
        sql = str(query.compile(dialect=db.session.connection().dialect, compile_kwargs={"literal_binds": True}))
    assert "created_at <" in sql and "2026-03-31" not in sql
