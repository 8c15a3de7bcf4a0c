"""The monitoring API: auth on every endpoint, strict parameters, the numbers, CSV exports, and every
response checked against the OpenAPI document the app serves."""
from __future__ import annotations

import csv
import io
import re
import types
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from aichat.tenancy.directory import legacy_label
from aichat.extensions import db
from aichat.models import AdminUser, AIUsageStats, ApiToken
from aichat.usage import export
from aichat.usage.days import day_start, today, usage_zone
from tests.api.openapi_check import assert_matches_openapi
from tests.conftest import CLIENT_KEY
from tests.usage.factories import log_row, roll_up, write_logs

M = "/api/v1/ai-monitoring"
STATS = "/api/v1/ai-proxy/stats"
CALLER = legacy_label(CLIENT_KEY)
SECRET = "sk-live-abcdefghijklmnop"


def _dates():
    zone = usage_zone({"AICHAT_TIMEZONE": "UTC"})
    return (today(zone) - timedelta(days=3)).isoformat(), today(zone).isoformat()


def endpoints() -> list[str]:
    start, end = _dates()
    return [f"{M}/summary", f"{M}/daily", f"{M}/providers", f"{M}/recent-errors",
            f"{M}/export/logs.csv?from={start}&to={end}", f"{M}/export/daily.csv?from={start}&to={end}", STATS]


class Monitored:
    """An app wired to both fake upstreams, with an admin, a token and a known set of usage rows."""

    def __init__(self, app, admin_id: int, token: str):
        self.app, self.admin_id, self.token = app, admin_id, token
        self.client = app.test_client()
        self.zone = usage_zone(app.config)
        self.rows: list[dict] = []

    def get(self, path: str, token: str | None = None, **headers):
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get(path, headers=headers)

    def admin(self, path: str):
        response = self.get(path, self.token)
        assert_matches_openapi(self.client, response)
        return response

    def at(self, days_ago: int, minutes: int) -> datetime:
        return day_start(today(self.zone) - timedelta(days=days_ago), self.zone) + timedelta(minutes=minutes)


@pytest.fixture
def mon(gateway_app, make_admin):
    app = gateway_app(AICHAT_ROLLUP_INTERVAL=0)
    admin_id, token = make_admin(app)
    m = Monitored(app, admin_id, token)
    m.rows = [
        log_row(m.at(0, 10), request_id="r1", latency_ms=120.0),
        log_row(m.at(0, 20), request_id="r2", status="error", failed_over=True, http_status=503,
                error_code="upstream_server_error", error_message=f"upstream said: bad key {SECRET}",
                cost=None, currency=None, prompt_tokens=0, completion_tokens=0, total_tokens=0, latency_ms=35.0),
        log_row(m.at(0, 21), request_id="r2", attempt=2, provider="gemini", key_label="gemini#1",
                model_served="gemini-2.5-flash", stream=True, cost=Decimal("0.25"), currency="EUR", latency_ms=900.0),
        log_row(m.at(0, 30), request_id="r4", status="cancelled", usage_source="estimated", cost=None,
                currency=None, latency_ms=None, caller=CALLER, endpoint="v1"),
        log_row(m.at(1, 40), request_id="r5", site_domain="help.example.com", cost=Decimal("1.0000000001"),
                latency_ms=70000.0, caller=CALLER, endpoint="v1"),
        log_row(m.at(1, 50), request_id="r6", status="error", provider="gemini", key_label="gemini#2",
                model_served="gemini-2.5-flash", error_code="upstream_timeout", error_message="timed out",
                cost=None, currency=None, prompt_tokens=0, completion_tokens=0, total_tokens=0),
        log_row(m.at(10, 0), request_id="r7"),
    ]
    write_logs(app, m.rows)
    roll_up(app)
    return m


def login(client, username: str = "admin", password: str = "correct horse battery") -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/admin/login", data={"csrf_token": token, "username": username, "password": password})
    assert answer.status_code == 302


# --- authentication -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", endpoints())
def test_every_endpoint_needs_an_admin(mon, path):
    """None, a bad token, a malformed header, a revoked token, a disabled admin: 401; token or session: 200."""
    for headers in ({}, {"Authorization": "Bearer aic_not-a-real-token"}, {"Authorization": "Basic YWRtaW46eA=="},
                    {"Authorization": "Bearer "}):
        refused = mon.client.get(path, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.get_json()["error"]["code"] in ("authentication_required", "invalid_token")
        assert_matches_openapi(mon.client, refused)
    assert mon.get(path, mon.token).status_code == 200

    session_client = mon.app.test_client()
    login(session_client)
    assert session_client.get(path).status_code == 200

    with mon.app.app_context():
        admin = db.session.get(AdminUser, mon.admin_id)
        admin.tokens[0].revoked_at = datetime.now(timezone.utc)
        _, spare = ApiToken.issue(admin, "spare")
        db.session.add(_)
        db.session.commit()
    assert mon.get(path, mon.token).status_code == 401
    assert mon.get(path, spare).status_code == 200
    with mon.app.app_context():
        db.session.get(AdminUser, mon.admin_id).is_active = False
        db.session.commit()
    assert mon.get(path, spare).status_code == 401
    assert session_client.get(path).status_code == 401


def test_a_session_works_behind_a_proxy_that_adds_basic_auth(mon):
    """Another Authorization scheme is not a token: the console's session still answers."""
    session_client = mon.app.test_client()
    login(session_client)
    basic = {"Authorization": "Basic YWRtaW46eA=="}
    assert session_client.get(f"{M}/summary", headers=basic).status_code == 200
    assert session_client.get(STATS, headers=basic).get_json()["caller"] is None


def test_a_client_key_sees_only_its_own_traffic(mon):
    mine = mon.get(STATS, CLIENT_KEY)
    assert mine.status_code == 200
    assert_matches_openapi(mon.client, mine)
    body = mine.get_json()
    assert body["caller"] == CALLER and body["requests"] == 2 and body["cancelled"] == 1
    assert body["latency"] == {"avg_ms": 70000.0, "min_ms": 70000.0, "p50_ms": 70000.0, "p95_ms": 70000.0,
                               "p99_ms": 70000.0, "max_ms": 70000.0, "count": 1}
    assert body["cost"] == {"USD": "1.0000000001"}
    everyone = mon.admin(STATS).get_json()
    assert everyone["caller"] is None and everyone["requests"] == 5
    one = mon.admin(f"{STATS}?caller={CALLER}").get_json()
    assert one["requests"] == 2
    refused = mon.get(f"{STATS}?caller=key:someoneelse", CLIENT_KEY)
    assert refused.status_code == 400 and "caller" in refused.get_json()["error"]["message"]
    assert mon.get(f"{M}/summary", CLIENT_KEY).status_code == 401  # a client key is not an admin


# --- parameters -----------------------------------------------------------------------------------

BAD = [
    (f"{M}/summary?days=0", "days"), (f"{M}/summary?days=367", "days"), (f"{M}/summary?days=abc", "days"),
    (f"{M}/summary?days=-1", "days"), (f"{M}/summary?days=7.5", "days"), (f"{M}/summary?days=", "days"),
    (f"{M}/summary?days=1e2", "days"), (f"{M}/summary?days=7%0A", "days"), (f"{M}/summary?days=%D9%A3", "days"),
    (f"{M}/summary?site_domain=", "site_domain"),
    (f"{M}/summary?site_domain={'x' * 256}", "site_domain"), (f"{M}/summary?site_domain=a%0Ab", "site_domain"),
    (f"{M}/daily?days=0", "days"), (f"{M}/daily?days=99999999999", "days"), (f"{M}/daily?site_domain=", "site_domain"),
    (f"{M}/providers?days=400", "days"), (f"{M}/providers?site_domain=", "site_domain"),
    (f"{M}/recent-errors?limit=0", "limit"), (f"{M}/recent-errors?limit=501", "limit"),
    (f"{M}/recent-errors?limit=ten", "limit"), (f"{M}/recent-errors?provider={'p' * 33}", "provider"),
    (f"{M}/recent-errors?upstream={'u' * 65}", "upstream"), (f"{M}/recent-errors?upstream=", "upstream"),
    (f"{M}/recent-errors?upstream=a%0Ab", "upstream"),
    (f"{M}/recent-errors?site_domain=", "site_domain"),
    (f"{M}/export/logs.csv", "from"), (f"{M}/export/logs.csv?from=2026-01-01", "to"),
    (f"{M}/export/logs.csv?from=2026-02-30&to=2026-03-01", "from"),
    (f"{M}/export/logs.csv?from=2026/01/01&to=2026-03-01", "from"),
    (f"{M}/export/logs.csv?from=2026-01-01&to=tomorrow", "to"),
    (f"{M}/export/logs.csv?from=9999-12-31&to=9999-12-31", "from"),
    (f"{M}/export/logs.csv?from=0001-01-01&to=0001-01-02", "from"),
    (f"{M}/export/logs.csv?from=2026-01-01%0A&to=2026-01-02", "from"),
    (f"{M}/export/daily.csv?from=1969-12-31&to=2026-01-02", "from"),
    (f"{M}/summary?site_domain=a%C2%93b", "site_domain"), (f"{M}/summary?site_domain=a%00b", "site_domain"),
    (f"{M}/summary?site_domain=a%7Fb", "site_domain"),
    (f"{M}/export/daily.csv?from=20260101&to=2026-01-02", "from"),
    (f"{STATS}?days=0", "days"), (f"{STATS}?caller={'c' * 129}", "caller"),
]


@pytest.mark.parametrize("path,name", BAD)
def test_a_bad_parameter_is_a_400_naming_it(mon, path, name):
    response = mon.admin(path)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter" and name in error["message"]


@pytest.mark.parametrize("path", [f"{M}/summary?days=1", f"{M}/summary?days=366", f"{M}/daily?days=366",
                                  f"{M}/recent-errors?limit=1", f"{M}/recent-errors?limit=500",
                                  f"{M}/export/daily.csv?from=2025-01-02&to=2026-01-02",
                                  f"{M}/export/daily.csv?from=1970-01-01&to=9998-12-31",
                                  f"{M}/summary?site_domain=%E4%BE%8B%E5%AD%90.%E4%B8%AD%E5%9B%BD",
                                  f"{M}/summary?site_domain=a%20b%E2%80%AEc"])
def test_the_edges_of_each_range_are_accepted(mon, path):
    assert mon.admin(path).status_code == 200


@pytest.mark.parametrize("kind", ["logs", "daily"])
def test_from_after_to_is_a_range_of_no_days(mon, kind):
    """The OpenAPI document cannot relate two parameters, so any two dates are served: these give the header only."""
    response = mon.admin(f"{M}/export/{kind}.csv?from=2026-03-02&to=2026-03-01")
    assert response.status_code == 200
    assert len(response.get_data(as_text=True).strip().splitlines()) == 1


# --- the numbers ------------------------------------------------------------------------------

def test_summary_counts_requests_outcomes_tokens_and_cost_per_currency(mon):
    body = mon.admin(f"{M}/summary?days=7").get_json()
    assert body["period"]["days"] == 7 and body["period"]["timezone"] == "UTC"
    assert body["period"]["to"] == today(mon.zone).isoformat()
    # Requests are first attempts: r1, r2, r4, r5, r6 (r2's second attempt rescued it; r7 is too old).
    assert (body["requests"], body["attempts"], body["successes"], body["errors"], body["cancelled"]) == (5, 6, 3, 2, 1)
    assert body["failed_requests"] == 1 and body["success_rate"] == 0.6
    assert body["failovers"] == 1 and body["streams"] == 1
    assert body["tokens"] == {"prompt": 40, "cached": 0, "completion": 20, "reasoning": 0, "total": 60}
    assert body["cost"] == {"EUR": "0.25", "USD": "1.0000150001"}
    assert body["unpriced"] == 1 and body["estimated"] == 1 and body["estimated_share"] == round(1 / 6, 6)
    latency = body["latency"]
    assert latency["count"] == 3 and latency["avg_ms"] == round((120 + 900 + 70000) / 3, 1)
    assert (latency["min_ms"], latency["max_ms"]) == (120.0, 70000.0)  # r4 was cancelled, r2's first try failed
    assert latency["p50_ms"] == 875.0  # rank 1.5 of 3: halfway through the (750, 1000] bucket
    # Ranks 2.85 and 2.97 of 3 fall in the open bucket, which runs from 60000 to the maximum.
    assert (latency["p95_ms"], latency["p99_ms"]) == (68500.0, 69700.0)
    top = body["top_models"]
    assert [(m["provider"], m["model"], m["requests"]) for m in top] == [
        ("openai", "gpt-4o-mini", 4), ("gemini", "gemini-2.5-flash", 1)]
    assert top[1]["cost"] == {"EUR": "0.25"} and top[1]["attempts"] == 2


def test_summary_for_one_site_and_for_a_quiet_period(mon):
    help_site = mon.admin(f"{M}/summary?days=7&site_domain=help.example.com").get_json()
    assert help_site["requests"] == 1 and help_site["cost"] == {"USD": "1.0000000001"}
    nobody = mon.admin(f"{M}/summary?site_domain=nobody.example").get_json()
    assert nobody["requests"] == 0 and nobody["cost"] == {} and nobody["success_rate"] is None
    assert nobody["latency"]["avg_ms"] is None and nobody["top_models"] == []
    assert nobody["latency"]["min_ms"] is None and nobody["latency"]["max_ms"] is None


def test_daily_is_one_zero_filled_point_per_day_oldest_first(mon):
    points = mon.admin(f"{M}/daily?days=12").get_json()["points"]
    assert len(points) == 12
    assert [p["day"] for p in points] == [(today(mon.zone) - timedelta(days=n)).isoformat() for n in range(11, -1, -1)]
    by_day = {p["day"]: p for p in points}
    day = lambda n: (today(mon.zone) - timedelta(days=n)).isoformat()  # noqa: E731
    assert by_day[day(0)]["requests"] == 3 and by_day[day(0)]["cost"] == {"EUR": "0.25", "USD": "0.000015"}
    assert by_day[day(1)]["requests"] == 2
    # One timed success that day (r5, 70000 ms): the open bucket narrowed to it gives it exactly.
    assert by_day[day(1)]["latency"] == {"avg_ms": 70000.0, "min_ms": 70000.0, "p95_ms": 70000.0,
                                         "max_ms": 70000.0, "count": 1}
    assert by_day[day(10)]["requests"] == 1
    quiet = by_day[day(5)]
    assert quiet["requests"] == 0 and quiet["cost"] == {} and quiet["tokens"]["total"] == 0
    assert quiet["latency"] == {"avg_ms": None, "min_ms": None, "p95_ms": None, "max_ms": None, "count": 0}


def test_one_request_of_a_fifth_of_a_millisecond_is_its_own_every_percentile(app, make_admin):
    """Interpolating in the (0, 50] bucket alone would say 25 ms; the kept minimum and maximum say 0.2."""
    one = Monitored(app, *make_admin(app))
    write_logs(app, [log_row(one.at(0, 5), latency_ms=0.2)])
    roll_up(app)
    exact = {"avg_ms": 0.2, "min_ms": 0.2, "max_ms": 0.2, "count": 1}
    assert one.admin(f"{M}/summary?days=1").get_json()["latency"] == {**exact, "p50_ms": 0.2, "p95_ms": 0.2,
                                                                      "p99_ms": 0.2}
    assert one.admin(f"{M}/daily?days=1").get_json()["points"][0]["latency"] == {**exact, "p95_ms": 0.2}
    providers = {p["provider"]: p for p in one.admin(f"{M}/providers?days=1").get_json()["providers"]}
    assert providers["openai"]["latency"] == {**exact, "p95_ms": 0.2}


def test_a_day_rolled_up_without_min_and_max_leaves_the_period_unbounded(mon):
    """A day rolled up before the bounds were kept, its logs pruned: the other days' bounds would clamp wrongly."""
    with mon.app.app_context():
        old = db.session.query(AIUsageStats).filter(AIUsageStats.day == today(mon.zone) - timedelta(days=1))
        assert old.update({"latency_min_ms": None, "latency_max_ms": None}) == 2  # r5's row and r6's
        db.session.commit()
    latency = mon.admin(f"{M}/summary?days=7").get_json()["latency"]
    assert (latency["min_ms"], latency["max_ms"]) == (None, None)
    assert latency["p50_ms"] == 875.0 and latency["p99_ms"] == 60000.0  # only a lower bound: no maximum to run to
    today_only = mon.admin(f"{M}/summary?days=1").get_json()["latency"]
    assert (today_only["min_ms"], today_only["p99_ms"], today_only["max_ms"]) == (120.0, 897.0, 900.0)


def test_providers_give_error_rates_and_the_live_circuit(mon):
    body = mon.admin(f"{M}/providers?days=7").get_json()
    by_name = {p["upstream"]: p for p in body["providers"]}
    assert set(by_name) == {"openai", "gemini"}
    assert [(p["upstream"], p["provider"]) for p in body["providers"]] == [("gemini", "gemini"), ("openai", "openai")]
    openai, gemini = by_name["openai"], by_name["gemini"]
    assert (openai["attempts"], openai["requests"], openai["errors"], openai["error_rate"]) == (4, 4, 1, 0.25)
    assert (gemini["attempts"], gemini["requests"], gemini["errors"], gemini["error_rate"]) == (2, 1, 1, 0.5)
    assert gemini["cost"] == {"EUR": "0.25"}
    assert gemini["latency"] == {"avg_ms": 900.0, "min_ms": 900.0, "p95_ms": 900.0, "max_ms": 900.0, "count": 1}
    # r1 (120) and r5 (70000): rank 1.9 of 2 is 90% of the way from 60000 to the maximum.
    assert openai["latency"] == {"avg_ms": 35060.0, "min_ms": 120.0, "p95_ms": 69000.0, "max_ms": 70000.0,
                                 "count": 2}
    assert openai["live"]["scope"] == "worker_process" and openai["live"]["circuit"] == "closed"
    assert [k["label"] for k in openai["live"]["keys"]] == ["openai#1", "openai#2"]


def _deepseek_rows(m: Monitored) -> list[dict]:
    """Traffic of a second upstream of the OpenAI kind, serving a model nobody priced."""
    unpriced = {"upstream": "deepseek", "key_label": "deepseek#1", "model_served": "deepseek-chat", "cost": None,
                "currency": None}
    return [log_row(m.at(0, 40), request_id="d1", latency_ms=640.0, **unpriced),
            log_row(m.at(0, 41), request_id="d2", status="error", http_status=429, error_code="upstream_rate_limited",
                    error_message="slow down", prompt_tokens=0, completion_tokens=0, total_tokens=0, latency_ms=80.0,
                    **unpriced)]


def test_two_upstreams_of_one_kind_are_listed_apart_and_only_the_configured_one_is_live(mon):
    write_logs(mon.app, _deepseek_rows(mon))
    roll_up(mon.app)
    body = mon.admin(f"{M}/providers?days=7").get_json()
    items = {(p["upstream"], p["provider"]): p for p in body["providers"]}
    assert list(items) == [("deepseek", "openai"), ("gemini", "gemini"), ("openai", "openai")]
    deepseek, openai = items[("deepseek", "openai")], items[("openai", "openai")]
    assert (deepseek["attempts"], deepseek["requests"], deepseek["errors"], deepseek["error_rate"]) == (2, 2, 1, 0.5)
    assert deepseek["cost"] == {} and deepseek["latency"]["count"] == 1 and deepseek["latency"]["max_ms"] == 640.0
    assert deepseek["live"] is None  # not configured in this app: only the upstream of that name would be
    assert (openai["attempts"], openai["errors"]) == (4, 1)  # as before deepseek's rows came
    assert [k["label"] for k in openai["live"]["keys"]] == ["openai#1", "openai#2"]
    # The summary's models stay per kind: deepseek-chat is an OpenAI-kind model.
    top = mon.admin(f"{M}/summary?days=7").get_json()["top_models"]
    assert ("openai", "deepseek-chat", 2) in [(m["provider"], m["model"], m["requests"]) for m in top]


def test_a_configured_upstream_is_listed_without_traffic_and_live_only_for_its_current_kind(mon):
    """Traffic of an upstream named gemini when it was of the OpenAI kind: not the live gemini's."""
    write_logs(mon.app, [log_row(mon.at(0, 50), site_domain="old.example", upstream="gemini", provider="openai")])
    roll_up(mon.app)
    body = mon.admin(f"{M}/providers?days=7&site_domain=old.example").get_json()
    items = {(p["upstream"], p["provider"]): p for p in body["providers"]}
    assert list(items) == [("gemini", "gemini"), ("gemini", "openai"), ("openai", "openai")]
    assert items[("gemini", "openai")]["attempts"] == 1 and items[("gemini", "openai")]["live"] is None
    for configured in (items[("gemini", "gemini")], items[("openai", "openai")]):
        assert configured["attempts"] == 0 and configured["cost"] == {} and configured["error_rate"] is None
        assert configured["live"]["circuit"] == "closed"


def test_recent_errors_name_the_upstream_and_filter_by_it_or_by_kind(mon):
    write_logs(mon.app, _deepseek_rows(mon))
    errors = mon.admin(f"{M}/recent-errors").get_json()["errors"]
    assert [(e["request_id"], e["upstream"], e["provider"]) for e in errors] == [
        ("d2", "deepseek", "openai"), ("r2", "openai", "openai"), ("r6", "gemini", "gemini")]
    by_name = mon.admin(f"{M}/recent-errors?upstream=deepseek").get_json()["errors"]
    assert [e["request_id"] for e in by_name] == ["d2"] and by_name[0]["key_label"] == "deepseek#1"
    assert [e["request_id"] for e in mon.admin(f"{M}/recent-errors?upstream=openai").get_json()["errors"]] == ["r2"]
    by_kind = mon.admin(f"{M}/recent-errors?provider=openai").get_json()["errors"]
    assert [e["request_id"] for e in by_kind] == ["d2", "r2"]
    assert mon.admin(f"{M}/recent-errors?upstream=deepseek&provider=gemini").get_json()["errors"] == []


def test_recent_errors_are_newest_first_and_redacted(mon):
    body = mon.admin(f"{M}/recent-errors").get_json()
    assert [e["request_id"] for e in body["errors"]] == ["r2", "r6"]
    first = body["errors"][0]
    assert SECRET not in first["error_message"] and "[redacted]" in first["error_message"]
    assert first["http_status"] == 503 and first["key_label"] == "openai#1" and first["model"] == "gpt-4o-mini"
    assert first["time"].endswith("Z")
    assert [e["request_id"] for e in mon.admin(f"{M}/recent-errors?limit=1").get_json()["errors"]] == ["r2"]
    assert [e["request_id"] for e in mon.admin(f"{M}/recent-errors?provider=gemini").get_json()["errors"]] == ["r6"]
    assert mon.admin(f"{M}/recent-errors?site_domain=help.example.com").get_json()["errors"] == []


# --- CSV exports ------------------------------------------------------------------------------

def test_logs_csv_is_streamed_and_parses_back_to_the_rows(mon, monkeypatch):
    monkeypatch.setattr(export, "CHUNK", 2)  # several fetches even for a few rows
    start, end = (today(mon.zone) - timedelta(days=1)).isoformat(), today(mon.zone).isoformat()
    path = f"{M}/export/logs.csv?from={start}&to={end}"
    over_http = mon.get(path, mon.token)
    assert over_http.status_code == 200 and over_http.is_streamed and over_http.mimetype == "text/csv"
    assert over_http.headers["Content-Disposition"] == f'attachment; filename="aichat-usage-logs-{start}-{end}.csv"'
    # The view's own response: a generator, pulled one chunk at a time.
    with mon.app.test_request_context(path, headers={"Authorization": f"Bearer {mon.token}"}):
        response = mon.app.full_dispatch_request()
        assert isinstance(response.response, types.GeneratorType)
        chunks = list(response.response)
    assert len(chunks) == 4  # the header, then one chunk per fetch of two rows
    text = "".join(chunks)
    assert text == over_http.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["request_id"] for r in rows] == ["r5", "r6", "r1", "r2", "r2", "r4"]
    assert rows[4]["cost"] == "0.25" and rows[4]["currency"] == "EUR" and rows[4]["attempt"] == "2"
    assert rows[5]["cost"] == "" and rows[5]["usage_source"] == "estimated" and rows[5]["caller"] == CALLER
    assert rows[0]["cost"] == "1.0000000001" and rows[0]["created_at"].endswith("Z")
    assert rows[3]["error_message"] == "upstream said: bad key [redacted]" and SECRET not in text
    assert [(r["upstream"], r["provider"]) for r in rows][3:5] == [("openai", "openai"), ("gemini", "gemini")]


def test_daily_csv_parses_back_to_the_rollup(mon):
    start, end = (today(mon.zone) - timedelta(days=10)).isoformat(), today(mon.zone).isoformat()
    response = mon.admin(f"{M}/export/daily.csv?from={start}&to={end}")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sum(int(r["attempts"]) for r in rows) == 7
    assert sum(Decimal(r["cost"]) for r in rows if r["currency"] == "USD") == Decimal("1.0000300001")
    assert {r["day"] for r in rows} == {start, (today(mon.zone) - timedelta(days=1)).isoformat(), end}
    assert set(rows[0]) >= {"lat_le_50", "lat_le_inf", "latency_sum_ms", "unpriced", "estimated"}
    yesterday = [r for r in rows if r["day"] == (today(mon.zone) - timedelta(days=1)).isoformat()]
    bounds = {r["provider"]: (r["latency_min_ms"], r["latency_max_ms"]) for r in yesterday}
    assert bounds == {"openai": ("70000.0", "70000.0"), "gemini": ("", "")}  # r5, and r6 which failed


def test_both_exports_carry_the_upstream_beside_its_kind(mon):
    write_logs(mon.app, _deepseek_rows(mon))
    roll_up(mon.app)
    day = today(mon.zone).isoformat()
    logs = list(csv.DictReader(io.StringIO(mon.admin(f"{M}/export/logs.csv?from={day}&to={day}").get_data(
        as_text=True))))
    assert {r["request_id"]: (r["upstream"], r["provider"]) for r in logs if r["request_id"].startswith("d")} == {
        "d1": ("deepseek", "openai"), "d2": ("deepseek", "openai")}
    daily = list(csv.DictReader(io.StringIO(mon.admin(f"{M}/export/daily.csv?from={day}&to={day}").get_data(
        as_text=True))))
    attempts = [(r["upstream"], r["provider"], int(r["attempts"])) for r in daily]
    assert sum(n for upstream, kind, n in attempts if (upstream, kind) == ("deepseek", "openai")) == 2
    assert sum(n for upstream, kind, n in attempts if (upstream, kind) == ("openai", "openai")) == 3  # r1, r2, r4
    assert list(daily[0])[:5] == ["day", "site_domain", "upstream", "provider", "model"]


def test_flask_usage_export_writes_the_same_csv(mon, tmp_path):
    start, end = (today(mon.zone) - timedelta(days=1)).isoformat(), today(mon.zone).isoformat()
    target = tmp_path / "logs.csv"
    runner = mon.app.test_cli_runner()
    result = runner.invoke(args=["usage", "export", "logs", "--from", start, "--to", end, "--output", str(target)])
    assert result.exit_code == 0, result.output
    api = mon.get(f"{M}/export/logs.csv?from={start}&to={end}", mon.token).get_data()
    assert target.read_bytes() == api
    daily = runner.invoke(args=["usage", "export", "daily", "--from", start, "--to", end])
    assert daily.exit_code == 0 and daily.stdout.startswith("day,site_domain,upstream,provider,model")
    refused = runner.invoke(args=["usage", "export", "logs", "--from", end, "--to", start])
    assert refused.exit_code == 1 and "from must not be after to" in refused.output
