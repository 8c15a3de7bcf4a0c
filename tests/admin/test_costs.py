"""Cost analysis: by site, upstream, model and client key; shares and trends per currency; sorting; CSV."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.admin.conftest import login
from tests.admin.usage_seed import KEY_NAME, PERIOD, seed


@pytest.fixture
def seeded(app, client, make_admin):
    make_admin(app, token=False)
    prefix = seed(app)
    login(client)
    return client, prefix


def _table(html: str, by: str) -> str:
    return re.search(rf'<section class="card" id="costs-{by}".*?</section>', html, re.S).group(0)


def _rows(html: str, by: str) -> list[list[str]]:
    """Each body row of a breakdown as its cells' text."""
    body = re.search(r"<tbody>(.*?)</tbody>", _table(html, by), re.S).group(1)
    cells = r"<t[hd][^>]*>(.*?)</t[hd]>"
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(cells, row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _page(client, **args) -> str:
    response = client.get("/admin/costs", query_string={**PERIOD, **args})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_each_breakdown_with_shares_trends_and_counts(seeded):
    """Worked out from the seeded rows: USD 0.30 + 0.10 + 0.60 this week (0.20 before), EUR 2.50 (5 before)."""
    client, prefix = seeded
    html = _page(client)
    # Sorted by cost, largest first, currency by currency in code order (EUR, then USD).
    assert _rows(html, "model") == [
        ["gemini-2.5-flash", "1", "15", "€2.50", "100.0% EUR", "-50.0% EUR", "0", "1"],
        ["gpt-4.1-mini", "1", "15", "$0.60", "60.0% USD", "new USD", "0", "0"],
        ["gpt-4o-mini", "3", "30", "$0.40", "40.0% USD", "+100.0% USD", "0", "0"],
        ["deepseek-chat", "0", "150", "—", "—", "—", "1", "0"],  # a second attempt: no request of its own
    ]
    assert _rows(html, "upstream") == [
        ["gemini", "1", "15", "€2.50", "100.0% EUR", "-50.0% EUR", "0", "1"],
        ["openai", "4", "45", "$1.00", "100.0% USD", "+400.0% USD", "0", "0"],
        ["deepseek", "0", "150", "—", "—", "—", "1", "0"],
    ]
    assert _rows(html, "site") == [
        ["help.example.com", "1", "15", "€2.50", "100.0% EUR", "new EUR", "0", "1"],  # last week's EUR was shop's
        ["shop.example.com", "4", "195", "$1.00", "100.0% USD", "+400.0% USD", "1", "0"],
    ]
    # A client key's row is named after the key, which still exists; browsers have no key.
    assert _rows(html, "key") == [
        ["Browsers (no client key)", "4", "195", "€2.50 $0.90", "100.0% EUR 90.0% USD", "-50.0% EUR +350.0% USD",
         "1", "1"],
        [f"{KEY_NAME} {prefix}", "1", "15", "$0.10", "10.0% USD", "new USD", "0", "0"],
    ]
    total = re.search(r"<tfoot>(.*?)</tfoot>", _table(html, "model"), re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", total).split()) == \
        "Total 5 210 €2.50 $1.00 100.0% EUR 100.0% USD -50.0% EUR +400.0% USD 1 1"
    assert "Unpriced counts attempts that used tokens of a model with no price" in html


@pytest.mark.parametrize("sort, direction, order", [
    ("name", "asc", ["deepseek-chat", "gemini-2.5-flash", "gpt-4.1-mini", "gpt-4o-mini"]),
    ("name", "desc", ["gpt-4o-mini", "gpt-4.1-mini", "gemini-2.5-flash", "deepseek-chat"]),
    ("cost", "asc", ["deepseek-chat", "gpt-4o-mini", "gpt-4.1-mini", "gemini-2.5-flash"]),
    ("requests", "desc", ["gpt-4o-mini", "gemini-2.5-flash", "gpt-4.1-mini", "deepseek-chat"]),  # ties by name
    ("tokens", "desc", ["deepseek-chat", "gpt-4o-mini", "gemini-2.5-flash", "gpt-4.1-mini"]),
    ("change", "desc", ["gpt-4o-mini", "gemini-2.5-flash", "deepseek-chat", "gpt-4.1-mini"]),
    ("unpriced", "desc", ["deepseek-chat", "gemini-2.5-flash", "gpt-4.1-mini", "gpt-4o-mini"]),
    ("estimated", "desc", ["gemini-2.5-flash", "deepseek-chat", "gpt-4.1-mini", "gpt-4o-mini"]),
    ("bogus", "sideways", ["gemini-2.5-flash", "gpt-4.1-mini", "gpt-4o-mini", "deepseek-chat"]),  # the default
])
def test_sorting_by_each_column(seeded, sort, direction, order):
    client, _ = seeded
    html = _page(client, sort=sort, dir=direction)
    assert [row[0] for row in _rows(html, "model")] == order
    shown = sort if sort != "bogus" else "cost"
    header = re.search(rf'<th scope="col"[^>]*aria-sort="(\w+)">\s*<a href="([^"]+)"', _table(html, "model"))
    assert header.group(1) == {"asc": "ascending"}.get(direction, "descending")
    # The sorted column's link turns the order round; the period is kept.
    assert f"sort={shown}" in header.group(2) and "from=2026-03-08" in header.group(2)
    assert ("dir=desc" if direction == "asc" else "dir=asc") in header.group(2)
    assert html.count("aria-sort=") == 4  # one sorted column per table


def test_csv_of_a_breakdown(seeded):
    client, prefix = seeded
    response = client.get("/admin/costs/key.csv", query_string={**PERIOD, "sort": "name", "dir": "asc"})
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    assert 'filename="aichat-costs-key-2026-03-08-2026-03-14.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["key"], r["name"], r["currency"], r["cost"], r["share"], r["previous_cost"], r["change"])
            for r in rows] == [
        ("", "", "EUR", "2.5", "1.000000", "5", "-0.500000"),
        ("", "", "USD", "0.9", "0.900000", "0.2", "3.500000"),
        (prefix, KEY_NAME, "USD", "0.1", "0.100000", "", ""),
    ]
    assert [(r["requests"], r["attempts"], r["tokens"], r["unpriced"], r["estimated"]) for r in rows] == [
        ("4", "5", "195", "1", "1"), ("4", "5", "195", "1", "1"), ("1", "1", "15", "0", "0")]
    models = list(csv.DictReader(io.StringIO(client.get("/admin/costs/model.csv", query_string=PERIOD)
                                             .get_data(as_text=True))))
    assert [(r["key"], r["currency"], r["cost"]) for r in models][-1] == ("deepseek-chat", "", "")  # unpriced: no cost
    assert client.get("/admin/costs/caller.csv").status_code == 404


def test_a_formula_in_a_model_name_stays_text_in_the_csv(app, client, make_admin):
    from datetime import date, timedelta

    from aichat.usage.days import day_start, usage_zone
    from tests.usage.factories import log_row, roll_up, write_logs

    make_admin(app, token=False)
    write_logs(app, [log_row(day_start(date(2026, 3, 9), usage_zone(app.config)) + timedelta(hours=1),
                             model_served="=HYPERLINK(\"http://x\")")])
    roll_up(app)
    login(client)
    text = client.get("/admin/costs/model.csv", query_string=PERIOD).get_data(as_text=True)
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


@pytest.mark.parametrize("args, field", [({"period": "year"}, "period"), ({"period": "custom", "from": "x"}, "from"),
                                         ({"site": "nowhere.example"}, "site")])
def test_a_bad_period_shows_its_error_and_the_default_period(seeded, args, field):
    client, _ = seeded
    response = client.get("/admin/costs", query_string=args)
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert client.get("/admin/costs/model.csv", query_string=args).status_code == 200


def test_signed_out_visitors_go_to_the_login_page(app, client):
    for path in ("/admin/costs", "/admin/costs/model.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path


def test_a_viewer_reads_costs_and_downloads_them(app, client, make_admin):
    make_admin(app, "viewer", token=False, role="viewer")
    seed(app)
    login(client, "viewer")
    assert "gpt-4o-mini" in client.get("/admin/costs", query_string=PERIOD).get_data(as_text=True)
    assert client.get("/admin/costs/site.csv", query_string=PERIOD).status_code == 200


def test_the_menu_marks_costs_as_the_page_shown_not_the_dashboard(seeded):
    client, _ = seeded
    html = _page(client)
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', html) == ["/admin/costs"]
