"""In Chromium: add an upstream and its key through the pages, and the next chat request uses them, no restart."""
from __future__ import annotations

import time

import pytest
from openai import OpenAI

from tests.admin.conftest import PASSWORD
from tests.admin.test_pages_browser import WATCH
from tests.conftest import CLIENT_KEY, OPENAI_KEYS


@pytest.fixture
def console(make_app, make_admin, live_server, page):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0.2)
    make_admin(app, "admin", token=False, role="admin")
    base = live_server(app)
    page.add_init_script(WATCH)
    page.goto(base + "/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return base, page


def _ask(base: str) -> str:
    chat = OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10)
    reply = chat.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    return reply.choices[0].message.content


def _until(check, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _no_violation(page):
    assert page.evaluate("window.__violations") == [], page.url


def test_an_upstream_and_key_added_in_the_console_serve_the_next_request_and_disabling_stops_it(console,
                                                                                                 fake_openai):
    base, page = console
    assert "demo" in _ask(base).lower()  # keyless: the demo responder answers
    page.goto(base + "/admin/upstreams")
    _no_violation(page)
    page.fill("#name", "fakeai")
    page.select_option("#kind", "openai")
    page.fill("#base_url", fake_openai.base_url)
    page.fill("#models", "gpt-4o-mini")
    page.click("#add-upstream button[type=submit]")
    page.wait_for_url(base + "/admin/upstreams/fakeai")
    page.fill("#label", "main")
    page.fill("#secret", OPENAI_KEYS[0])
    page.click("#add-key button[type=submit]")
    page.wait_for_load_state()
    _no_violation(page)
    assert "main" in page.inner_text("#keys") and OPENAI_KEYS[0] not in page.content()

    # The test button: one tiny call, the fake's answer shown.
    page.click("#test-button")
    page.wait_for_selector("#test-result")
    result = page.inner_text("#test-result")
    assert "OK" in result and "Echo:" in result and "gpt-4o-mini" in result

    # The next chat request goes there, without a restart (within the poll interval).
    fake_openai.reset()
    assert _until(lambda: _ask(base).startswith("Echo: hello there")), "the new upstream never answered"
    assert any(r.path == "/v1/chat/completions" and r.key == OPENAI_KEYS[0] for r in fake_openai.requests)

    # Disabled from the list: requests stop going there.
    page.goto(base + "/admin/upstreams")
    page.click("#upstream-fakeai button.switch")
    page.wait_for_load_state()
    assert "disabled" in page.inner_text("#upstream-fakeai .state")
    assert _until(lambda: "demo" in _ask(base).lower()), "requests kept going to the disabled upstream"
    seen = len(fake_openai.requests)
    for _ in range(3):
        assert "demo" in _ask(base).lower()
    assert len(fake_openai.requests) == seen
    page.goto(base + "/admin/audit")
    audit_text = page.inner_text("#audit")
    assert "upstreams.add" in audit_text and "upstreams.keys.add" in audit_text and "upstreams.disable" in audit_text
    assert OPENAI_KEYS[0] not in page.content()
    for path in ("/admin/upstreams", "/admin/upstreams/fakeai", "/admin/prices"):
        page.goto(base + path)
        _no_violation(page)
