"""The playground in headless Chromium against the fake OpenAI: an answer streams in piece by piece, its row is in
the usage log marked as the playground's; and the whole task can be done with the keyboard alone."""
from __future__ import annotations

import pytest

from tests.admin.conftest import PASSWORD
from tests.admin.test_pages_browser import WATCH
from tests.conftest import usage_rows

ANSWER = "alpha beta gamma delta epsilon zeta"
# Every change of the assistant's answer while it streams, with whether it was still streaming.
OBSERVE = """() => { window.__seen = [];
  new MutationObserver(() => { const turns = document.querySelectorAll('#pg-transcript .turn.assistant');
    const last = turns[turns.length - 1];
    if (last) window.__seen.push([last.querySelector('p').textContent, last.classList.contains('streaming')]); })
  .observe(document.getElementById('pg-transcript'), {subtree: true, childList: true, characterData: true,
                                                      attributes: true}); }"""


@pytest.fixture
def live(gateway_app, fake_openai, make_admin, live_server, page):
    """A live gateway on the fake OpenAI, which sends its answer in six pieces a tenth of a second apart."""
    fake_openai.default = fake_openai.default.replace(text=ANSWER, chunks=6, chunk_interval=0.1)
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"])
    make_admin(app, "ops", token=False, role="admin")
    page.add_init_script(WATCH)
    return app, live_server(app), page


def sign_in(page, base, username="ops"):
    page.goto(base + "/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/admin/")


def test_the_playground_streams_an_answer_and_its_row_is_in_the_log(live):
    app, base, page = live
    page.goto(base + "/")  # the home page, under the same policy
    assert page.evaluate("window.__violations") == [] and page.is_visible("#home-links")
    sign_in(page, base)
    page.goto(base + "/admin/playground")
    page.evaluate(OBSERVE)
    page.fill("#pg-message", "Say six words")
    page.click("#pg-send")
    page.wait_for_selector("#pg-stats:not([hidden])")
    assert page.inner_text("#pg-transcript .turn.assistant p") == ANSWER
    partial = {text for text, streaming in page.evaluate("window.__seen") if streaming and text and text != ANSWER}
    assert len(partial) >= 3, f"the answer did not arrive in pieces: {partial}"
    assert page.inner_text("#pg-stat-upstream") == "openai"
    assert page.inner_text("#pg-stat-tokens").count("/") == 2
    request_id = page.inner_text("#pg-stat-id")
    assert page.evaluate("window.__violations") == []
    [row] = usage_rows(app, at_least=1)
    assert (row["request_id"], row["caller"], row["endpoint"], row["status"]) == (
        request_id, "playground:ops", "playground", "success")
    if "admin.logs_index" in app.view_functions:  # the log explorer, filtered to the playground's calls
        page.click("#pg-log-link")
        page.wait_for_load_state()
        assert request_id[:8] in page.content()


def test_stop_ends_the_answer_and_a_limit_is_shown_clearly(live, fake_openai):
    from tests.limits.conftest import set_site_limits

    app, base, page = live
    fake_openai.default = fake_openai.default.replace(chunks=40, chunk_interval=0.1)
    sign_in(page, base)
    page.goto(base + "/admin/playground")
    page.fill("#pg-message", "a long answer please")
    page.click("#pg-send")
    page.wait_for_selector("#pg-transcript .turn.assistant p:not(:empty)")
    page.click("#pg-stop")
    page.wait_for_selector("#pg-error:not([hidden])")
    assert page.get_attribute("#pg-error", "data-kind") == "stopped"
    assert page.is_enabled("#pg-send")
    set_site_limits(app, rpm=1)
    page.fill("#pg-message", "again")
    page.click("#pg-send")  # the first of this minute passes, the next is refused
    page.wait_for_selector("#pg-stats:not([hidden])", timeout=15_000)
    page.fill("#pg-message", "once more")
    page.click("#pg-send")
    page.wait_for_selector("#pg-error[data-kind=limit]:not([hidden])")
    assert "per minute for this site" in page.inner_text("#pg-error")


def _focus(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {id: e.id, tag: e.tagName, href: e.getAttribute('href') || '', text: (e.textContent || '').trim(),
                visible: e.matches(':focus-visible') && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0}; }""")


def _tab_to(page, matches, limit: int = 40) -> dict:
    """Press Tab until the focused element matches; every stop on the way must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = _focus(page)
        assert focus["visible"] or focus["tag"] == "BODY", f"focus is not visible on {focus}"
        if matches(focus):
            return focus
    raise AssertionError("never reached by Tab")


def test_keyboard_only_sign_in_open_the_playground_and_send_a_message(live):
    app, base, page = live
    page.goto(base + "/admin/login")
    _tab_to(page, lambda f: f["id"] == "username")
    page.keyboard.type("ops")
    _tab_to(page, lambda f: f["id"] == "password")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/admin/"
    _tab_to(page, lambda f: f["href"].endswith("/admin/playground"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base + "/admin/playground"
    _tab_to(page, lambda f: f["id"] == "pg-message")
    page.keyboard.type("hello from the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector("#pg-stats:not([hidden])")
    assert page.inner_text("#pg-transcript .turn.assistant p") == ANSWER
    assert _focus(page)["id"] == "pg-message", "focus is not back in the message box"
    assert usage_rows(app, at_least=1)[0]["caller"] == "playground:ops"
