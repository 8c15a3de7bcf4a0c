"""Hostile values in any console query string or form: a clear 4xx or the page with the field's error, never a 500.

Dates at the ends of the calendar once failed four pages (a previous period before year 1, a day after 9999-12-31),
and a NUL in a filter failed four pages on PostgreSQL, which refuses NUL in text.
"""
import pytest

from tests.admin.conftest import signed_in

HOSTILE = ["99999999999999999999999", "-99999999999999999999", "1e309", "nan", "\x00", "'", "%", "x" * 3000,
           "9999-12-31", "0001-01-01", "2026-13-45", "9999-12-31T23:59", "0001-01-01T00:00"]
QUERY = ["period", "range", "from", "to", "site", "before", "after", "upstream", "model", "status", "error_code",
         "caller", "request_id", "sort", "dir", "user", "actor", "action", "target", "target_type", "next"]
FORM = ["name", "kind", "base_url", "models", "default_model", "priority", "label", "secret", "target", "model",
        "currency", "input_per_mtok", "cached_input_per_mtok", "output_per_mtok", "valid_from", "above_prompt_tokens",
        "domain", "origins", "max_tokens", "rpm", "tpd", "cost_day", "cost_month", "expires_in", "grace", "role",
        "password", "password_again", "username", "temperature", "retention_days", "site", "user", "system_prompt"]


def _url(rule) -> str:
    numeric = {n for n in rule.arguments if type(rule._converters.get(n)).__name__ == "IntegerConverter"}
    return rule.build({n: 1 if n in numeric else "localhost" for n in rule.arguments})[1]


@pytest.fixture
def owner(app, make_admin):
    app.config["AICHAT_TIMEZONE"] = "Asia/Shanghai"  # ahead of UTC: a day's bounds move past midnight
    make_admin(app, "owner1", token=False, role="owner")
    return signed_in(app, "owner1")


def test_no_query_string_fails_a_page(app, owner):
    client, _token = owner
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and "GET" in r.methods]
    assert len(rules) > 20
    failed = set()
    for rule in rules:
        for value in HOSTILE:
            for query in ({name: value for name in QUERY},
                          {"period": "custom", "range": "custom", "from": value, "to": value, "before": value}):
                status = client.get(_url(rule), query_string=query).status_code
                if status >= 500:
                    failed.add((rule.rule, value[:20], status))
    assert failed == set()


def test_no_form_fails_an_action(app, owner):
    client, token = owner
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and "POST" in r.methods
             and r.endpoint not in ("admin.logout", "admin.login_submit")]
    assert len(rules) > 20
    failed = set()
    for rule in rules:
        for value in HOSTILE:
            status = client.post(_url(rule), data={**{name: value for name in FORM}, "csrf_token": token}).status_code
            if status >= 500:
                failed.add((rule.rule, value[:20], status))
    assert failed == set()


@pytest.mark.parametrize("path, field", [("/admin/logs", "model"), ("/admin/audit", "actor"),
                                         ("/admin/prices", "model-filter")])
def test_a_control_character_in_a_filter_is_an_error_next_to_it(owner, path, field):
    """PostgreSQL refuses NUL in text: the filter says so, as the monitoring API's filters do, before any query."""
    client, _token = owner
    name = "model" if field == "model-filter" else field
    resp = client.get(path, query_string={name: "gpt\x00"})
    assert resp.status_code == 400
    assert f'id="{field}-error">No control characters' in resp.get_data(as_text=True)
    assert client.get(path, query_string={name: "gpt-4o mini"}).status_code == 200
