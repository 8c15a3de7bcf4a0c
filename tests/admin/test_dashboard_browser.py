"""The dashboard in headless Chromium: every chart drawn from the JSON with the right points, under the CSP."""
from __future__ import annotations

from urllib.parse import urlencode

from tests.admin.conftest import PASSWORD
from tests.admin.test_pages_browser import WATCH
from tests.admin.usage_seed import PERIOD, seed

CHARTS = """() => Object.fromEntries([...document.querySelectorAll('#charts canvas')].map(c => {
  const chart = Chart.getChart(c);
  return [c.id, chart && {labels: chart.data.labels.length, label: c.getAttribute('aria-label'),
                          datasets: chart.data.datasets.map(d => d.data.length),
                          colour: chart.data.datasets[0].borderColor}];
}))"""


def test_each_chart_draws_its_points_without_a_policy_violation(app, make_admin, live_server, page):
    make_admin(app, "viewer", token=False, role="viewer")
    seed(app)
    base = live_server(app)
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.add_init_script(WATCH)
    page.goto(base + "/admin/login")
    page.fill("#username", "viewer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(base + "/admin/?" + urlencode(PERIOD))
    page.wait_for_selector("#charts[data-ready=true]")
    charts = page.evaluate(CHARTS)
    week = 7
    assert {name: (c["labels"], c["datasets"]) for name, c in charts.items()} == {
        "chart-requests": (week, [week] * 3),  # requests, failed requests, upstream errors
        "chart-latency": (week, [week] * 4),  # latency and first token, p50 and p95
        "chart-models": (4, [4, 4]),  # prompt and completion tokens of four models
        "chart-sites": (2, [2, 2]),
        "chart-cost-eur": (week, [week]),  # one chart per currency, a dataset per upstream
        "chart-cost-usd": (week, [week]),
    }
    assert all(c["label"] for c in charts.values())  # each canvas says what it shows
    assert page.is_hidden("#charts-error")
    # The tables beside the charts hold the same numbers (the exact amounts for costs).
    assert page.locator("#chart-cost-usd-table tbody tr").count() == week
    assert "0.6" in page.text_content("#chart-cost-usd-table")
    assert page.locator("#stat-requests .stat-value").inner_text() == "5"

    light = charts["chart-requests"]["colour"]
    page.click("#theme-toggle")  # automatic → light
    page.click("#theme-toggle")  # light → dark: the charts take the dark theme's colours
    assert page.evaluate(CHARTS)["chart-requests"]["colour"] not in ("", light)

    assert page.evaluate("window.__violations") == []
    assert not [m for m in messages if "Content Security Policy" in m or "Error" in m], messages
