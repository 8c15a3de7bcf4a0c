"""The log explorer's queries: keyset pages, filters, the approximate total, failover paths, the CSV."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from aichat.extensions import db
from aichat.models import AIUsageLog
from aichat.usage import explorer
from aichat.usage.explorer import Cursor, Filters
from tests.usage.factories import log_row, roll_up, utc, write_logs

UTC = ZoneInfo("UTC")
T0 = utc(2026, 3, 10, 12, 0, 0)
RANGE = (T0 - timedelta(days=1), T0 + timedelta(days=1))


def insert_raw(app, rows: list[dict]) -> None:
    with app.app_context():
        db.session.execute(insert(AIUsageLog), rows)
        db.session.commit()


def ids_of(rows) -> list[int]:
    return [r.id for r in rows]


def all_pages(app, filters: Filters, size: int) -> tuple[list[int], list[list[int]]]:
    """Walk older to the end, then newer back to the start; the ids seen going each way, page by page."""
    with app.app_context():
        forward, cursor = [], None
        while True:
            found = explorer.page(db.session, filters, cursor, size)
            forward.append(ids_of(found.rows))
            if found.older is None:
                break
            cursor = found.older
        backward = [ids_of(found.rows)]
        while found.newer is not None:
            found = explorer.page(db.session, filters, found.newer, size)
            backward.append(ids_of(found.rows))
    return forward, backward


def newest_first(app, **where) -> list[int]:
    with app.app_context():
        rows = db.session.query(AIUsageLog).filter_by(**where).all()
        rows.sort(key=lambda r: (r.created_at.replace(tzinfo=None), r.id), reverse=True)
        return ids_of(rows)


def test_paging_older_and_newer_returns_every_row_once_in_order_with_ties_on_created_at(app):
    """Rows sharing one created_at across a page boundary: none is skipped or repeated either way."""
    rows = []
    for i in range(23):
        # Groups of 4 at the same instant: every page boundary of 5 falls inside a tie.
        rows.append(log_row(T0 - timedelta(seconds=i // 4)))
    write_logs(app, rows)
    filters = Filters(*RANGE)
    forward, backward = all_pages(app, filters, size=5)
    expected = newest_first(app)
    assert [i for page in forward for i in page] == expected
    assert [len(p) for p in forward] == [5, 5, 5, 5, 3]
    assert backward == list(reversed(forward))


def test_the_newest_page_has_no_newer_link_and_the_oldest_no_older(app):
    write_logs(app, [log_row(T0 - timedelta(minutes=i)) for i in range(3)])
    with app.app_context():
        first = explorer.page(db.session, Filters(*RANGE), None, 3)
        assert first.newer is None and first.older is None and len(first.rows) == 3
        found = explorer.page(db.session, Filters(*RANGE), None, 2)
        assert found.newer is None and found.older is not None
        last = explorer.page(db.session, Filters(*RANGE), found.older, 2)
        assert last.older is None and last.newer is not None and len(last.rows) == 1


@pytest.mark.parametrize("name, value, column", [
    ("site", "help.example.com", {"site_domain": "help.example.com"}),
    ("upstream", "deepseek", {"upstream": "deepseek"}),
    ("status", "error", {"status": "error"}),
    ("error_code", "upstream_timeout", {"error_code": "upstream_timeout"}),
    ("caller", "key:abc", {"caller": "key:abc"}),
    ("request_id", "req-special", {"request_id": "req-special"}),
])
def test_each_filter_keeps_only_its_rows_across_pages(app, name, value, column):
    rows = [log_row(T0 - timedelta(minutes=i)) for i in range(12)]
    for i in (1, 4, 5, 9):
        rows[i].update(column, attempt=i + 1)  # one request's attempts, when it is the request id
        if name in ("status", "error_code"):
            rows[i].update(status="error", error_code=rows[i].get("error_code") or "upstream_server_error")
    rows.append(log_row(T0 - timedelta(days=3), **column))  # outside the range
    write_logs(app, rows)
    forward, _ = all_pages(app, Filters(*RANGE, **{name: value}), size=3)
    seen = [i for page in forward for i in page]
    expected = [i for i in newest_first(app, **column)
                if RANGE[0] <= _created(app, i) < RANGE[1]]
    assert seen == expected and len(seen) == 4


def _created(app, row_id):
    with app.app_context():
        at = db.session.get(AIUsageLog, row_id).created_at
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def test_the_model_filter_matches_the_requested_or_the_served_model_once(app):
    rows = [log_row(T0 - timedelta(minutes=1), model_requested="gpt-4o", model_served="gpt-4o-2024-08-06"),
            log_row(T0 - timedelta(minutes=2), model_requested="gpt-4o", model_served="gpt-4o"),
            log_row(T0 - timedelta(minutes=3), model_requested="auto", model_served="gpt-4o"),
            log_row(T0 - timedelta(minutes=4), model_requested="gemini", model_served="gemini-2.5-flash")]
    write_logs(app, rows)
    forward, backward = all_pages(app, Filters(*RANGE, model="gpt-4o"), size=2)
    with app.app_context():
        models = [(r.model_requested, r.model_served) for r in
                  explorer.page(db.session, Filters(*RANGE, model="gpt-4o"), None, 10).rows]
        assert explorer.total(db.session, Filters(*RANGE, model="gpt-4o"), UTC).count == 3
    assert models == [("gpt-4o", "gpt-4o-2024-08-06"), ("gpt-4o", "gpt-4o"), ("auto", "gpt-4o")]
    assert [len(p) for p in forward] == [2, 1] and backward == list(reversed(forward))


def test_a_cursor_is_opaque_and_signed(app):
    cursor = Cursor(T0, 42, older=True)
    token = explorer.encode_cursor(cursor, "secret")
    assert explorer.decode_cursor(token, "secret") == cursor
    for bad in (token[:-2] + "xx", token.replace(token[3], "A" if token[3] != "A" else "B", 1), "nonsense", "",
                explorer.encode_cursor(cursor, "another server")):
        with pytest.raises(ValueError, match="damaged"):
            explorer.decode_cursor(bad, "secret")


def test_the_total_is_exact_below_the_cap_then_estimated_from_the_rollup_or_only_bounded(app, monkeypatch):
    rows = [log_row(T0 - timedelta(hours=i % 20, seconds=i), upstream="gemini" if i % 2 else "openai",
                    **({"status": "error", "error_code": "upstream_timeout"} if i % 10 < 3 else {}))
            for i in range(40)]
    write_logs(app, rows)
    roll_up(app)
    with app.app_context():
        assert explorer.total(db.session, Filters(*RANGE), UTC) == explorer.Total(40, "exact")
        monkeypatch.setattr(explorer, "COUNT_CAP", 10)
        # Over the two whole days the rows are on, the rollup's figure is the count.
        days = (utc(2026, 3, 9), utc(2026, 3, 11))
        assert explorer.total(db.session, Filters(*days), UTC) == explorer.Total(40, "estimated")
        assert explorer.total(db.session, Filters(*days, upstream="gemini"), UTC) == explorer.Total(20, "estimated")
        assert explorer.total(db.session, Filters(*days, status="error"), UTC) == explorer.Total(12, "estimated")
        # Half of one day: about half of that day's rows.
        half = Filters(utc(2026, 3, 10, 0), utc(2026, 3, 10, 12))
        on_day = sum(1 for r in rows if r["created_at"].date() == T0.date())
        assert explorer.total(db.session, half, UTC).count == max(round(on_day / 2), 11)
        assert explorer.total(db.session, Filters(*RANGE, error_code="x"), UTC).kind == "exact"
        assert explorer.total(db.session, Filters(*RANGE, model="gpt-4o-mini"), UTC) == explorer.Total(10, "more_than")


def test_a_pages_requests_are_grouped_with_their_whole_failover_path(app):
    first = log_row(T0 - timedelta(seconds=5), request_id="req-fo", attempt=1, upstream="gemini", status="error",
                    error_code="upstream_timeout", failed_over=True)
    second = log_row(T0 - timedelta(seconds=3), request_id="req-fo", attempt=2, upstream="openai")
    between = log_row(T0 - timedelta(seconds=4), request_id="req-other")
    write_logs(app, [first, second, between])
    with app.app_context():
        result = explorer.explore(db.session, Filters(*RANGE), None, UTC)
        assert [[r.request_id for r in g] for g in result.groups] == [["req-fo", "req-fo"], ["req-other"]]
        path = result.paths["req-fo"]
        assert [(s.attempt, s.upstream, s.status) for s in path] == [(1, "gemini", "error"), (2, "openai", "success")]
        # A page holding only the second attempt still knows the first.
        found = explorer.explore(db.session, Filters(*RANGE, upstream="openai", request_id="req-fo"), None, UTC)
        assert len(found.page.rows) == 1 and len(found.paths["req-fo"]) == 2


def test_the_csv_export_holds_exactly_the_filtered_rows_with_messages_redacted(app):
    secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"
    rows = [log_row(T0 - timedelta(minutes=i), upstream="gemini" if i % 3 == 0 else "openai",
                    status="error", error_code="upstream_auth", error_message=f"bad key {secret}")
            for i in range(9)]
    rows.append(log_row(T0 - timedelta(days=5), upstream="gemini"))
    insert_raw(app, rows)  # as an older writer may have left them: the export redacts again as it reads
    with app.app_context():
        text = "".join(explorer.export_csv(db.session, Filters(*RANGE, upstream="gemini")))
    table = list(csv.DictReader(io.StringIO(text)))
    expected = list(reversed(newest_first(app, upstream="gemini")))[1:]  # the old row is outside the range
    with app.app_context():
        wanted = [db.session.get(AIUsageLog, i).request_id for i in expected]
    assert [r["request_id"] for r in table] == wanted and len(table) == 3
    assert all(secret not in r["error_message"] and r["upstream"] == "gemini" for r in table)
