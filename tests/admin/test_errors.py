"""`/admin/errors`: errors by upstream and error code, with counts, first and last seen, a sample, and a link."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import insert

from aichat.extensions import db
from aichat.models import AIUsageLog

from tests.usage.factories import log_row

NOW = datetime.now(timezone.utc).replace(microsecond=0)
SECRET = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX1234"


@pytest.fixture
def console(viewer_console):
    return viewer_console


def error(minutes_ago: float, upstream: str, code: str | None, message: str = "failed") -> dict:
    return log_row(NOW - timedelta(minutes=minutes_ago), upstream=upstream, status="error", error_code=code,
                   error_message=message, http_status=503)


def groups(html: str) -> list[tuple]:
    body = re.search(r'<table class="table" id="error-groups">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        href = unescape(re.search(r'href="([^"]+)"', row).group(1))
        out.append((cells[0], cells[1], cells[2], cells[5], href))
    return out


def test_errors_are_grouped_by_upstream_and_code_with_counts_and_a_redacted_sample(app, console):
    with app.app_context():
        db.session.execute(insert(AIUsageLog), [
            error(5, "gemini", "upstream_timeout"), error(50, "gemini", "upstream_timeout"),
            error(70, "gemini", "upstream_timeout", "timed out"),
            error(3, "openai", "upstream_auth", f"key {SECRET} was refused"), error(9, "openai", "upstream_timeout"),
            error(60 * 30, "gemini", "upstream_timeout"),  # yesterday: outside the default 24 hours
            log_row(NOW - timedelta(minutes=1), upstream="gemini"),  # a success
        ])
        db.session.commit()
    html = console.get("/admin/errors").get_data(as_text=True)
    found = groups(html)
    assert [g[:3] for g in found] == [("gemini", "upstream_timeout", "3"), ("openai", "upstream_auth", "1"),
                                      ("openai", "upstream_timeout", "1")]
    assert found[0][3] == "failed"  # the latest message of its group
    assert "[redacted]" in found[1][3] and SECRET not in html
    html_week = console.get("/admin/errors?range=7d").get_data(as_text=True)
    assert groups(html_week)[0][2] == "4"


def test_each_group_links_to_its_rows_in_the_explorer_over_the_same_range(app, console):
    with app.app_context():
        db.session.execute(insert(AIUsageLog), [error(5, "gemini", "upstream_timeout"),
                                                error(6, "openai", "upstream_timeout"),
                                                error(7, "gemini", "upstream_rate_limited")])
        db.session.commit()
    query = "range=custom&from=" + (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M") + \
        "&to=" + (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    found = groups(console.get(f"/admin/errors?{query}").get_data(as_text=True))
    href = next(g[4] for g in found if g[:2] == ("gemini", "upstream_timeout"))
    args = parse_qs(urlsplit(href).query)
    assert urlsplit(href).path == "/admin/logs"
    assert {k: v[0] for k, v in args.items()} == {
        "range": "custom", "from": (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "to": (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"), "upstream": "gemini",
        "error_code": "upstream_timeout", "status": "error"}
    rows = console.get(href).get_data(as_text=True)
    assert len(re.findall(r'<tr class="log-row"', rows)) == 1


def test_a_bad_range_is_an_error_next_to_the_field(console):
    response = console.get("/admin/errors?range=custom&from=2026-02-30T00:00&to=x")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="from-error">Enter a date and time' in html and 'id="to-error">Enter a date and time' in html


def test_no_errors_says_so(console):
    assert 'id="errors-empty"' in console.get("/admin/errors").get_data(as_text=True)
