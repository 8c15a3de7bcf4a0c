"""The log explorer in headless Chromium: filter it, page forward and back, open a row; under the CSP."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.admin.conftest import PASSWORD
from tests.usage.factories import log_row, write_logs

NOW = datetime.now(timezone.utc).replace(microsecond=0)
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));"""


@pytest.fixture
def explorer(app, make_admin, live_server, page):
    make_admin(app, "viewer", token=False, role="viewer")
    rows = [log_row(NOW - timedelta(minutes=i), upstream="gemini" if i % 3 == 0 else "openai",
                    request_id=f"req-{i:03d}") for i in range(160)]
    write_logs(app, rows)
    base = live_server(app)
    page.add_init_script(WATCH)
    page.goto(base + "/admin/login")
    page.fill("#username", "viewer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return base, page, rows


def shown(page) -> list[str]:
    return page.eval_on_selector_all("tbody.request", "els => els.map(e => e.dataset.request)")


def test_filter_the_log_then_page_forward_and_back(explorer):
    base, page, rows = explorer
    page.goto(base + "/admin/logs")
    assert len(shown(page)) == 50 and shown(page)[0] == "req-000"
    page.fill("#upstream", "gemini")
    page.select_option("#range", "7d")
    page.click("#log-filters button[type=submit]")
    page.wait_for_load_state()
    gemini = [r["request_id"] for r in rows if r["upstream"] == "gemini"]  # newest first, 54 of them
    first = shown(page)
    assert first == gemini[:50]
    assert "54 matching rows." in page.inner_text("#log-total")
    assert page.locator("#page-newer").count() == 0
    page.click("#page-older")
    page.wait_for_load_state()
    assert shown(page) == gemini[50:]
    assert page.input_value("#upstream") == "gemini" and page.input_value("#range") == "7d"
    assert page.locator("#page-older").count() == 0
    page.click("#page-newer")
    page.wait_for_load_state()
    assert shown(page) == first
    page.click("tbody.request >> nth=0 >> a")
    page.wait_for_load_state()
    assert "Attempt 1 of request req-000" in page.inner_text("h1")
    assert page.evaluate("window.__violations") == []
