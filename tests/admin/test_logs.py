"""`/admin/logs`: the explorer's filters, pages, total, detail and CSV, through a signed-in console session."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import insert

from aichat.extensions import db
from aichat.models import AIUsageLog
from tests.admin.conftest import login
from tests.usage.factories import log_row, write_logs

NOW = datetime.now(timezone.utc).replace(microsecond=0)
_ROW_IDS = re.compile(r'<tr class="log-row" data-id="(\d+)"')
_OLDER = re.compile(r'id="page-older" href="([^"]+)"|href="([^"]+)" rel="next" id="page-older"')
_NEWER = re.compile(r'href="([^"]+)" rel="prev" id="page-newer"')


@pytest.fixture
def console(viewer_console):
    return viewer_console


def ids(html: str) -> list[int]:
    return [int(i) for i in _ROW_IDS.findall(html)]


def link(pattern, html: str) -> str | None:
    match = pattern.search(html)
    return unescape(next(g for g in match.groups() if g)) if match else None


def test_paging_forward_and_back_shows_every_row_once_in_order(app, console):
    rows = [log_row(NOW - timedelta(minutes=1, seconds=i // 3)) for i in range(120)]  # ties of three
    write_logs(app, rows)
    pages, html = [], console.get("/admin/logs").get_data(as_text=True)
    pages.append(ids(html))
    while (older := link(_OLDER, html)) is not None:
        html = console.get(older).get_data(as_text=True)
        pages.append(ids(html))
    assert [len(p) for p in pages] == [50, 50, 20]
    seen = [i for p in pages for i in p]
    with app.app_context():
        expected = [r.id for r in db.session.query(AIUsageLog).order_by(AIUsageLog.created_at.desc(),
                                                                         AIUsageLog.id.desc())]
    assert seen == expected
    back = [pages[-1]]
    while (newer := link(_NEWER, html)) is not None:
        html = console.get(newer).get_data(as_text=True)
        back.append(ids(html))
    assert back == list(reversed(pages))


def test_filters_are_applied_and_kept_in_the_paging_links(app, console):
    rows = [log_row(NOW - timedelta(minutes=i), upstream="gemini" if i % 2 else "openai") for i in range(110)]
    write_logs(app, rows)
    html = console.get("/admin/logs?upstream=gemini&range=7d").get_data(as_text=True)
    with app.app_context():
        gemini = {r.id for r in db.session.query(AIUsageLog).filter_by(upstream="gemini")}
    assert len(ids(html)) == 50 and set(ids(html)) <= gemini
    older = link(_OLDER, html)
    assert "upstream=gemini" in older and "range=7d" in older
    second = console.get(older).get_data(as_text=True)
    assert len(ids(second)) == 5 and set(ids(second)) <= gemini
    assert "55 matching rows." in html


def test_a_tampered_cursor_is_a_clear_400_never_a_500(app, console):
    write_logs(app, [log_row(NOW - timedelta(minutes=i)) for i in range(60)])
    older = link(_OLDER, console.get("/admin/logs").get_data(as_text=True))
    token = re.search(r"cursor=([^&]+)", older).group(1)
    for bad in (token[:-3] + "abc", "eyJhIjoxfQ", "x" * 5000, "%00"):
        response = console.get(f"/admin/logs?cursor={bad}")
        assert response.status_code == 400
        assert "This page link is damaged" in response.get_data(as_text=True)
    assert console.get(older).status_code == 200


@pytest.mark.parametrize("query, field, message", [
    ("range=forever", "range", "Choose one of the ranges offered."),
    ("range=custom&from=yesterday&to=2026-01-01T00:00", "from", "Enter a date and time"),
    ("range=custom&from=2026-01-02T00:00&to=2026-01-01T00:00", "to", "The end is before the start."),
    ("status=maybe", "status", "Choose one of the statuses offered."),
    ("upstream=" + "u" * 65, "upstream", "At most 64 characters."),
])
def test_bad_filter_values_get_an_error_next_to_the_field(console, query, field, message):
    response = console.get(f"/admin/logs?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(rf'id="{field}-error">{re.escape(message)}', html), html[:200]
    assert f'aria-describedby="{field}-error"' in html


def test_a_custom_range_is_read_in_the_configured_zone(make_app, make_admin):
    app = make_app(AICHAT_TIMEZONE="Asia/Shanghai")
    make_admin(app, token=False)
    client = app.test_client()
    login(client)
    inside = log_row(datetime(2026, 3, 1, 16, 30, tzinfo=timezone.utc))  # 00:30 on 2 March in Shanghai
    outside = log_row(datetime(2026, 3, 1, 15, 30, tzinfo=timezone.utc))  # 23:30 on 1 March there
    write_logs(app, [inside, outside])
    html = client.get("/admin/logs?range=custom&from=2026-03-02T00:00&to=2026-03-03T00:00").get_data(as_text=True)
    assert len(ids(html)) == 1 and inside["request_id"] in html and outside["request_id"] not in html


def test_the_total_is_labelled_approximate_when_it_is_estimated(app, console, monkeypatch):
    from aichat.usage import explorer

    write_logs(app, [log_row(NOW - timedelta(minutes=i)) for i in range(30)])
    monkeypatch.setattr(explorer, "COUNT_CAP", 10)
    html = console.get("/admin/logs").get_data(as_text=True)
    assert re.search(r'data-kind="estimated">\s*About \S+ matching rows \(an estimate from the daily rollup, not a '
                     r'count\)', html)
    html = console.get("/admin/logs?error_code=nope").get_data(as_text=True)
    assert "0 matching rows." in html
    html = console.get("/admin/logs?model=gpt-4o-mini").get_data(as_text=True)
    assert "More than 10 matching rows (not counted further" in html


def test_a_failed_over_request_shows_its_path(app, console):
    write_logs(app, [
        log_row(NOW - timedelta(seconds=9), request_id="req-fo", attempt=1, upstream="gemini", status="error",
                error_code="upstream_timeout", failed_over=True),
        log_row(NOW - timedelta(seconds=8), request_id="req-fo", attempt=2, upstream="openai")])
    html = console.get("/admin/logs").get_data(as_text=True)
    path = re.search(r'<span class="failover-path">(.*?)</span>\s*</td>', html, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", path)
    assert re.sub(r"\s+", " ", text).strip() == "attempt 1: gemini ✗ upstream_timeout → attempt 2: openai ✓"


def test_the_detail_page_shows_tokens_cost_timing_the_error_redacted_and_the_other_attempts(app, console):
    secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"
    with app.app_context():
        db.session.execute(insert(AIUsageLog), [
            log_row(NOW - timedelta(seconds=9), request_id="req-d", attempt=1, upstream="gemini", status="error",
                    error_code="upstream_auth", error_message=f"key {secret} refused", http_status=401),
            log_row(NOW - timedelta(seconds=8), request_id="req-d", attempt=2, upstream="openai", prompt_tokens=1234,
                    cached_tokens=200, completion_tokens=56, reasoning_tokens=7, latency_ms=850.0, ttft_ms=120.0,
                    conversation_id="c_abc123")])
        db.session.commit()
        first, second = [r.id for r in db.session.query(AIUsageLog).order_by(AIUsageLog.attempt)]
    html = console.get(f"/admin/logs/{second}").get_data(as_text=True)
    for part in ('id="tokens-prompt">1,234<', 'id="tokens-cached">200<', 'id="tokens-completion">56<',
                 'id="tokens-reasoning">7<', 'id="latency">850 ms<', 'id="ttft">120 ms<', "$0.000015", "c_abc123"):
        assert part in html, part
    assert f'href="/admin/logs/{first}"' in html
    failed = console.get(f"/admin/logs/{first}").get_data(as_text=True)
    assert "upstream_auth" in failed and "[redacted]" in failed and secret not in failed
    assert console.get("/admin/logs/999999999").status_code == 404
    assert console.get("/admin/logs/99999999999999999999999").status_code == 404  # past 64 bits: no such row


def test_the_conversation_links_to_its_page(app, console):
    write_logs(app, [log_row(NOW - timedelta(seconds=5), conversation_id="c_xyz789")])
    with app.app_context():
        row_id = db.session.query(AIUsageLog.id).scalar()
    html = console.get(f"/admin/logs/{row_id}").get_data(as_text=True)
    assert '<a href="/admin/conversations/c_xyz789">c_xyz789</a>' in html


def test_the_csv_export_streams_exactly_the_filtered_rows(app, console):
    rows = [log_row(NOW - timedelta(minutes=i), status="error" if i % 4 == 0 else "success",
                    error_code="upstream_timeout" if i % 4 == 0 else None) for i in range(40)]
    write_logs(app, rows)
    response = console.get("/admin/logs/export?status=error&range=24h")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = sorted((r for r in rows if r["status"] == "error"), key=lambda r: r["created_at"])
    assert [r["request_id"] for r in table] == [r["request_id"] for r in expected] and len(table) == 10
    assert console.get("/admin/logs/export?status=maybe").status_code == 400


def test_the_explorer_needs_a_signed_in_admin(client):
    for path in ("/admin/logs", "/admin/logs/1", "/admin/logs/export", "/admin/errors"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path


def test_a_cost_without_a_currency_shows_as_a_plain_number(app, console):
    """A failed attempt costs 0 in no currency: shown as 0, not an error page."""
    write_logs(app, [log_row(NOW - timedelta(seconds=5), status="error", error_code="upstream_timeout",
                             prompt_tokens=0, completion_tokens=0, total_tokens=0, cost=0, currency=None)])
    response = console.get("/admin/logs")
    assert response.status_code == 200
    assert re.search(r'<td class="num">0</td>', response.get_data(as_text=True))
