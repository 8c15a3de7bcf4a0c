"""A reload mid-answer in Chromium: on a site whose gateway finishes answers (on_disconnect = finish) the widget
shows the question, waits, and shows the whole stored answer; on a `stop` site the answer ends with the page."""
from __future__ import annotations

import re

from aichat.runtime import runtime_of
from tests.widget.conftest import screenshot
from tests.widget.test_widget_browser import SHADOW, answered, clean, load, send

WORDS = " ".join(f"word{n}" for n in range(40))  # 40 chunks 0.15 s apart: a reload lands well inside it
QUESTION = "Tell me a long story"
READ_ONE = re.compile(r"/api/v1/conversations/c_[A-Za-z0-9_-]{22}$")
STATUS = f"{SHADOW}.querySelector('.status')"


def on_disconnect(app, mode: str) -> None:
    result = app.test_cli_runner().invoke(args=["sites", "update", "shop.test", "--on-disconnect", mode])
    assert result.exit_code == 0, result.output
    runtime_of(app).tenancy.poll()


def conversation_reads(page) -> list[str]:
    """The GETs of one conversation the page makes from now on (the widget's polls among them)."""
    seen = []
    page.on("request", lambda r: seen.append(r.url) if r.method == "GET" and READ_ONE.search(r.url) else None)
    return seen


def mid_answer_reload(page, host, fake_openai):
    """Send a question, reload once some of the answer has arrived; the page's new document is ready."""
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(text=WORDS, chunk_interval=0.15)
    send(page, QUESTION)
    page.wait_for_function(f"() => {SHADOW}.querySelector('.message.assistant .body')?.textContent.length > 10")
    assert page.evaluate("window.__violations") == []
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    page.locator("aichat-widget .launcher").click()


def pending(page, host):
    return page.evaluate(f"localStorage.getItem('aichat:{host.site}:pending')")


def test_with_finish_a_reload_mid_answer_shows_the_whole_stored_answer(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    on_disconnect(app, "finish")
    page = load(browser_page(), host.url())
    mid_answer_reload(page, host, fake_openai)
    assert pending(page, host) is not None, "the turn in flight is remembered across the reload"
    # The question, and a clear state while the gateway finishes the answer.
    assert page.locator("aichat-widget .message.user .body").all_inner_texts() == [QUESTION]
    page.wait_for_function(f"() => !{STATUS}.hidden && {STATUS}.dataset.kind === 'finishing'")
    assert page.locator("aichat-widget .status span").inner_text() == "The answer is being finished…"
    assert page.locator("aichat-widget .stop").is_visible()
    screenshot(page, "finishing")
    assert not fake_openai.streams[0].completed, "the answer was still being written when the page came back"

    assert answered(page) == WORDS, "the whole answer, as the gateway stored it"
    assert page.locator("aichat-widget .message .body").all_inner_texts() == [QUESTION, WORDS]
    assert page.evaluate(f"{STATUS}.dataset.kind") == "" and page.locator("aichat-widget .status").is_hidden()
    assert page.locator("aichat-widget .send").is_visible()
    stream = fake_openai.streams[0]
    assert stream.completed and not stream.client_disconnected, "the upstream saw the whole stream"
    assert len(fake_openai.streams) == 1, "asked once"
    assert pending(page, host) is None, "nothing is left in flight"
    assert page.evaluate("window.__events.filter(e => e[0] === 'message').map(e => e[1].content)") == [WORDS]

    # The anonymous visitor's conversation lives on the gateway, under the browser's session.
    session = page.evaluate(f"localStorage.getItem('aichat:{host.site}:session')")
    headers = {"Origin": host.base, "X-AIChat-Session": session}
    (listed,) = app.test_client().get("/api/v1/conversations", headers=headers).get_json()["conversations"]
    stored = app.test_client().get(f"/api/v1/conversations/{listed['id']}", headers=headers).get_json()
    assert [(m["role"], m["content"], m["status"]) for m in stored["messages"]] == [
        ("user", QUESTION, "complete"), ("assistant", WORDS, "complete")]
    assert page.evaluate(f"localStorage.getItem('aichat:{host.site}:conversations')") is None

    reads = conversation_reads(page)
    page.wait_for_timeout(3500)
    assert reads == [], "no polling once nothing is in flight"
    clean(page, host, failed_loads=True)  # the reload cuts the stream's own load short


def test_with_finish_a_cut_connection_waits_for_the_stored_answer_in_the_page(widget_setup, fake_openai,
                                                                              browser_page):
    app, host = widget_setup()
    on_disconnect(app, "finish")
    page = load(browser_page(), host.url(lang="zh-CN"))
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(text=WORDS, chunk_interval=0.15)
    reads = conversation_reads(page)
    page.route(f"{host.gateway}/api/v1/ai-proxy/chat", lambda route: route.abort("connectionreset"))
    send(page, QUESTION)
    page.wait_for_function(f"() => {STATUS}.dataset.kind === 'finishing'")
    assert page.locator("aichat-widget .status span").inner_text() == "回答正在生成中，请稍候…"
    page.unroute(f"{host.gateway}/api/v1/ai-proxy/chat")
    # The chat never reached the gateway here: nothing is stored, so the wait ends as the bound says. Cut it
    # short with the stop button; the question stays, with a retry.
    page.wait_for_timeout(1800)
    assert reads, "the widget reads the conversation while it waits"
    page.locator("aichat-widget .stop").click()
    page.wait_for_function(f"() => {STATUS}.dataset.kind === 'unfinished'")
    assert page.locator("aichat-widget .status span").inner_text() == "未能取回回答，请重试。"
    assert pending(page, host) is None
    page.locator("aichat-widget .retry").click()
    assert answered(page) == WORDS
    assert page.locator("aichat-widget .message .body").all_inner_texts() == [QUESTION, WORDS]
    clean(page, host, failed_loads=True)


def test_with_stop_a_reload_ends_the_answer_and_leaves_nothing_in_flight(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    mid_answer_reload(page, host, fake_openai)
    assert fake_openai.wait_for_disconnect(timeout=5), "the gateway closed the upstream call"
    assert not fake_openai.streams[0].completed
    assert pending(page, host) is None
    reads = conversation_reads(page)
    page.wait_for_timeout(2500)
    assert reads == [], "a stop site keeps conversations in the browser: nothing to poll"
    assert page.locator("aichat-widget .status").is_hidden()
    assert page.locator("aichat-widget .message.user .body").all_inner_texts() == [QUESTION]
    assert page.locator("aichat-widget .message.assistant .note").inner_text() == "Stopped.", \
        "what arrived before the reload, kept in this browser and marked as cut short"
    clean(page, host, failed_loads=True)
