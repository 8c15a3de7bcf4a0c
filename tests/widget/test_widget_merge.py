"""Signing in where the site merges (merge_anonymous), in Chromium: this browser's anonymous conversations become the
user's, on every browser they sign in from. On a `stop` site each is uploaded from localStorage and removed there once
stored (a failed one stays, for the next sign-in); on a `finish` site the gateway's are claimed."""
from __future__ import annotations

import json
import re
import time

from aichat.runtime import runtime_of
from tests.widget.test_widget_browser import SHADOW, answered, clean, load, send
from tests.widget.test_widget_identity import BASE, history, open_panel, signed_in  # noqa: F401 (a fixture)

QUESTION, ANSWER = "Which boots for snow?", "The Alpine ones, warm to -20 °C."
MERGING = re.compile(r"/api/v1/conversations/(import|claim)$")


def update(app, *options: str) -> None:
    result = app.test_cli_runner().invoke(args=["sites", "update", "shop.test", *options])
    assert result.exit_code == 0, result.output
    runtime_of(app).tenancy.poll()


def merging(page) -> list[tuple[str, int]]:
    """The imports and claims the page makes from now on, with their statuses."""
    seen = []
    page.on("response", lambda r: seen.append((MERGING.search(r.url).group(1), r.status))
            if r.request.method == "POST" and MERGING.search(r.url) else None)
    return seen


def kept_here(page, site: str) -> list[str]:
    """The titles of this browser's anonymous conversations in its localStorage."""
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('aichat:{site}:conversations'))")
    return [c["title"] for c in (stored or {}).get("conversations", [])]


def on_gateway(s, sub: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """`sub`'s conversations as the gateway keeps them: (title, [(role, content, status)]), newest first."""
    headers = {"Origin": s.host.base, "X-AIChat-User": s.token(sub)}
    response = s.app.test_client().get(f"{BASE}/export", headers=headers)
    assert response.status_code == 200, response.get_json()
    return [(c["title"], [(m["role"], m["content"], m["status"]) for m in c["messages"]])
            for c in response.get_json()["conversations"]]


def wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def shown(page, count: int = 2) -> list[str]:
    page.wait_for_function(f"n => {SHADOW}.querySelectorAll('.log .message').length >= n", arg=count)
    return page.locator("aichat-widget .log .message .body").all_inner_texts()


def anonymous_turn(page, fake_openai, question: str = QUESTION, answer: str = ANSWER) -> None:
    fake_openai.plan(text=answer)
    send(page, question)
    answered(page)


def test_on_a_stop_site_sign_in_uploads_this_browsers_conversations_to_the_user(signed_in, fake_openai, browser_page):
    s = signed_in
    page = load(browser_page(), s.host.url())
    open_panel(page)
    anonymous_turn(page, fake_openai)
    assert kept_here(page, s.host.site) == [QUESTION]
    seen = merging(page)

    page.evaluate("token => aichat.setUser(token)", s.token("alice"))
    assert seen == [("import", 201)], "one upload, no claim on a stop site"
    assert kept_here(page, s.host.site) == [], "uploaded: no longer kept in this browser"
    assert on_gateway(s, "alice") == [(QUESTION, [("user", QUESTION, "complete"), ("assistant", ANSWER, "complete")])]
    assert shown(page) == [QUESTION, ANSWER], "the signed-in panel shows it, now from the gateway"

    other = browser_page()
    other_seen = merging(other)
    load(other, s.host.url(user_token=s.token("alice")))
    open_panel(other)
    assert shown(other) == [QUESTION, ANSWER], "the user's other browser has it, messages and all"
    assert history(other) == [QUESTION]
    assert other_seen == [], "nothing kept in that browser: nothing to upload"

    page.evaluate("aichat.logout()")
    assert page.locator("aichat-widget .empty").is_visible(), "moved to the user, not copied"
    assert history(page) == ["No conversations yet."]
    assert on_gateway(s, "bob") == []
    for each in (page, other):
        clean(each, s.host)


def test_a_failed_upload_stays_in_the_browser_and_goes_at_the_next_sign_in(signed_in, fake_openai, browser_page):
    s = signed_in
    page = load(browser_page(), s.host.url())
    open_panel(page)
    anonymous_turn(page, fake_openai, "First question", "First answer.")
    page.locator("aichat-widget .new").click()
    anonymous_turn(page, fake_openai, "Second question", "Second answer.")
    seen = merging(page)
    failed = []

    def once(route):  # the first upload is spoilt on its way: the gateway refuses it
        if failed:
            return route.continue_()
        body = route.request.post_data_json
        failed.append(body["title"])
        route.continue_(post_data=json.dumps({**body, "messages": []}))

    page.route(re.compile(r".*/api/v1/conversations/import$"), once)
    page.evaluate("token => aichat.setUser(token)", s.token("carol"))
    assert failed == ["First question"], "the least recently used goes first"
    assert seen == [("import", 400), ("import", 201)]
    assert kept_here(page, s.host.site) == ["First question"], "only the stored one left the browser"
    assert [title for title, _ in on_gateway(s, "carol")] == ["Second question"]

    page.evaluate("aichat.logout()")
    assert history(page) == ["First question"]
    page.evaluate("token => aichat.setUser(token)", s.token("carol"))
    assert seen[2:] == [("import", 201)] and kept_here(page, s.host.site) == []
    assert on_gateway(s, "carol") == [
        ("First question", [("user", "First question", "complete"), ("assistant", "First answer.", "complete")]),
        ("Second question", [("user", "Second question", "complete"), ("assistant", "Second answer.", "complete")])]
    clean(page, s.host, failed_loads=True)
    assert [m for m in page.messages if m.startswith("error")] == [
        "error: Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]


def test_on_a_finish_site_sign_in_claims_the_sessions_conversations(signed_in, fake_openai, browser_page):
    s = signed_in
    update(s.app, "--on-disconnect", "finish")
    page = load(browser_page(), s.host.url())
    open_panel(page)
    anonymous_turn(page, fake_openai)
    seen = merging(page)

    page.evaluate("token => aichat.setUser(token)", s.token("dave"))
    assert seen == [("claim", 200)], "claimed on the gateway, nothing uploaded"
    assert page.evaluate(f"localStorage.getItem('aichat:{s.host.site}:conversations')") is None
    # The gateway stores the turn once its call has ended, off the request path: the other browser comes after.
    wait_until(lambda: on_gateway(s, "dave") == [(QUESTION, [("user", QUESTION, "complete"),
                                                             ("assistant", ANSWER, "complete")])])
    other = load(browser_page(), s.host.url(user_token=s.token("dave")))
    open_panel(other)
    assert shown(other) == [QUESTION, ANSWER], "the user's other browser has it, messages and all"
    assert on_gateway(s, "dave") == [(QUESTION, [("user", QUESTION, "complete"), ("assistant", ANSWER, "complete")])]
    page.evaluate("aichat.logout()")
    assert history(page) == ["No conversations yet."], "the session's conversation moved to the user"
    for each in (page, other):
        clean(each, s.host)
