"""The dashboard: headline numbers against the previous period, the charts' JSON, bad periods, who may read it."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from aichat.extensions import db
from aichat.models import AIUsageStats
from aichat.usage import dashboard
from aichat.usage.days import today, usage_zone
from aichat.usage.queries import Period
from tests.admin.conftest import login
from tests.admin.usage_seed import FIRST, LAST, PERIOD, seed

# By hand from the seeded rows (tests/admin/usage_seed.py) and the histogram's documented method:
# successful latencies 100, 200, 250, 300, 700 ms: p50 at rank 2.5 in (200, 300] holding two → 225;
# p95 at rank 4.75 in (500, 750] narrowed to the maximum 700 → 500 + 200 × 0.75 = 650.
# First tokens 90 and 400 ms (no bounds kept): p50 at rank 1 in (50, 100] → 100; p95 at rank 1.9 in
# (300, 500] → 300 + 200 × 0.9 = 480.
NOW = {"requests": 5, "success_rate": 1.0, "tokens": 210, "failovers": 1, "latency_p50_ms": 225.0,
       "latency_p95_ms": 650.0}
BEFORE = {"requests": 2, "success_rate": 1.0, "tokens": 30, "failovers": 0, "latency_p50_ms": 100.0,
          "latency_p95_ms": 100.0}


def _stat(html: str, name: str) -> tuple[str, str]:
    """A headline card's value and the line under it (its change, or a hint), as shown."""
    block = re.search(rf'id="stat-{name}">(.*?)</div>', html, re.S).group(1)
    value, rest = re.search(r'class="stat-value"(?: title="[^"]*")?>([^<]*)</span>(.*)', block, re.S).groups()
    return value.strip(), " ".join(re.sub(r"<[^>]+>", " ", rest).split())


@pytest.fixture
def seeded(app, client, make_admin):
    make_admin(app, token=False)
    prefix = seed(app)
    login(client)
    return app, client, prefix


def test_headline_numbers_and_their_change_against_the_previous_period(seeded):
    app, _client, _ = seeded
    zone = usage_zone(app.config)
    with app.app_context():
        numbers = dashboard.headline(db.session, Period(FIRST, LAST, zone),
                                     Period(FIRST - timedelta(days=7), FIRST - timedelta(days=1), zone))
    now, before, change = numbers["now"], numbers["before"], numbers["change"]
    assert {k: now[k] for k in NOW} == NOW and {k: before[k] for k in BEFORE} == BEFORE
    assert now["cost"] == {"USD": Decimal("1.00"), "EUR": Decimal("2.5")}
    assert before["cost"] == {"USD": Decimal("0.20"), "EUR": Decimal("5")}
    assert change["requests"] == pytest.approx((5 - 2) / 2) and change["tokens"] == pytest.approx(6.0)
    assert change["cost"] == {"USD": pytest.approx(4.0), "EUR": pytest.approx(-0.5)}
    assert change["success_rate"] == 0 and change["failovers"] is None  # nothing to compare a first failover with
    assert change["latency_p50_ms"] == pytest.approx(1.25) and change["latency_p95_ms"] == pytest.approx(5.5)
    assert now["ttft"] == {"p50_ms": 100.0, "p95_ms": 480.0, "count": 2, "known": True}
    assert change["ttft_p50_ms"] is None  # the previous week had no streams
    assert (now["unpriced"], now["estimated"]) == (1, 1)


def test_the_page_shows_them_formatted(seeded):
    _app, client, _ = seeded
    html = client.get("/admin/", query_string=PERIOD).get_data(as_text=True)
    assert _stat(html, "requests") == ("5", "+150.0% vs previous period")
    assert _stat(html, "success-rate") == ("100.0%", "0.0 pts vs previous period")  # a share changes in points
    assert _stat(html, "tokens") == ("210", "+600.0% vs previous period")
    assert _stat(html, "cost-usd") == ("$1.00", "+400.0% vs previous period")
    assert _stat(html, "cost-eur") == ("€2.50", "-50.0% vs previous period")
    assert _stat(html, "latency-p50") == ("225 ms", "+125.0% vs previous period")
    assert _stat(html, "latency-p95")[0] == "650 ms"
    assert _stat(html, "ttft-p50") == ("100 ms", "")
    assert _stat(html, "ttft-p95") == ("480 ms", "")
    assert _stat(html, "failovers") == ("1", "")
    assert 'class="stat-change bad">+125.0%' in html  # slower is worse
    assert "1 attempt used tokens with no price known" in html and "1 attempt has estimated tokens" in html
    # The charts' data is asked for with the same period.
    assert 'data-source="/admin/dashboard/data?period=custom&amp;from=2026-03-08&amp;to=2026-03-14"' in html


def test_first_token_percentiles_are_unknown_over_days_rolled_up_before_they_were_kept(seeded):
    """A stats row with streams and no first-token count (from before revision 0013): '—', never a number."""
    app, client, _ = seeded
    with app.app_context():
        db.session.add(AIUsageStats(day=date(2026, 3, 10), site_domain="shop.example.com", upstream="openai",
                                    provider="openai", model="gpt-4o-mini", attempts=1, requests=1, successes=1,
                                    streams=1, latency_count=0, ttft_count=None, ttft_sum_ms=None))
        db.session.commit()
    html = client.get("/admin/", query_string=PERIOD).get_data(as_text=True)
    assert _stat(html, "ttft-p50") == ("—", "Not measured for days rolled up before it was kept")
    assert _stat(html, "ttft-p95")[0] == "—"
    data = client.get("/admin/dashboard/data", query_string=PERIOD).get_json()
    # Only that day is unknown; one first token of 90 ms is at rank 0.5 of (50, 100]: 75.
    assert data["ttft"]["p50"] == [None, 75.0, None, None, None, 400.0, None]


def test_chart_data_for_the_period(seeded):
    _app, client, _ = seeded
    response = client.get("/admin/dashboard/data", query_string=PERIOD)
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert data["days"] == [(FIRST + timedelta(days=i)).isoformat() for i in range(7)]
    assert data["requests"] == [0, 2, 0, 1, 1, 1, 0]
    assert data["failed"] == [0] * 7  # the failed-over request was answered by its second attempt
    assert data["errors"] == [0, 0, 0, 1, 0, 0, 0]
    assert data["latency"]["p50"] == [None, 100.0, None, 700.0, 200.0, 250.0, None]  # 9 March: 100 and 300 ms
    assert data["cost"] == [
        {"currency": "EUR", "total": "2.5",
         "upstreams": [{"upstream": "gemini", "amounts": ["0", "0", "0", "0", "0", "2.5", "0"]}]},
        {"currency": "USD", "total": "1",
         "upstreams": [{"upstream": "openai", "amounts": ["0", "0.4", "0", "0", "0.6", "0", "0"]}]}]
    assert data["models"] == [{"model": "deepseek-chat", "prompt": 100, "completion": 50},
                              {"model": "gpt-4o-mini", "prompt": 20, "completion": 10},
                              {"model": "gemini-2.5-flash", "prompt": 10, "completion": 5},
                              {"model": "gpt-4.1-mini", "prompt": 10, "completion": 5}]
    assert data["sites"] == [{"site": "shop.example.com", "requests": 4, "failed": 0},
                             {"site": "help.example.com", "requests": 1, "failed": 0}]
    one_site = client.get("/admin/dashboard/data", query_string={**PERIOD, "site": "help.example.com"}).get_json()
    assert one_site["requests"] == [0, 0, 0, 0, 0, 1, 0] and [s["site"] for s in one_site["sites"]] == [
        "help.example.com"]


def test_charts_read_the_rollup_never_the_log(seeded):
    """With the logs gone, the charts draw the same: they come from the daily rollup."""
    app, client, _ = seeded
    before = client.get("/admin/dashboard/data", query_string=PERIOD).get_json()
    with app.app_context():
        db.session.execute(db.text("DELETE FROM ai_usage_log"))
        db.session.commit()
    assert client.get("/admin/dashboard/data", query_string=PERIOD).get_json() == before


@pytest.mark.parametrize("args, field, message", [
    ({"period": "fortnight"}, "period", "Choose one of the periods offered."),
    ({"period": "custom", "from": "yesterday", "to": "2026-03-14"}, "from", "Enter a date as YYYY-MM-DD."),
    ({"period": "custom", "from": "2026-03-14", "to": "2026-03-08"}, "to", "The end is before the start."),
    ({"period": "7", "site": "nowhere.example"}, "site", "No site has this domain."),
])
def test_a_bad_period_shows_its_error_next_to_the_field_and_the_default_period(seeded, args, field, message):
    app, client, _ = seeded
    response = client.get("/admin/", query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in html
    week = today(usage_zone(app.config))
    assert f'name="from" value="{(week - timedelta(days=6)).isoformat()}"' in html
    data = client.get("/admin/dashboard/data", query_string=args)
    assert data.status_code == 200 and data.get_json()["field_errors"] == {field: message}
    assert len(data.get_json()["days"]) == 7


def test_signed_out_visitors_go_to_the_login_page(app, client):
    for path in ("/admin/", "/admin/dashboard/data"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path


def test_a_viewer_reads_the_dashboard(app, client, make_admin):
    make_admin(app, "viewer", token=False, role="viewer")
    seed(app)
    login(client, "viewer")
    assert client.get("/admin/", query_string=PERIOD).status_code == 200
    assert client.get("/admin/dashboard/data", query_string=PERIOD).get_json()["requests"][1] == 2
