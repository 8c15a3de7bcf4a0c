"""A signed-in visitor in Chromium: one user's conversations on every browser they sign in from, none of them for
anyone else, and a refused token (forged, expired, another site's) dropped while the widget goes on anonymously."""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

import jwt
import pytest

from aichat.crypto import new_key
from aichat.runtime import runtime_of
from tests.widget.conftest import Host, screenshot
from tests.widget.test_widget_browser import SHADOW, answered, clean, load, send

ENCRYPTION_KEY = new_key()
BASE = "/api/v1/conversations"
CONVERSATION_ID = re.compile(r"c_[A-Za-z0-9_-]{22}")


@dataclass
class SignedIn:
    """The gateway, the host page, the site's identity secret as the CLI printed it, and another site's."""

    app: object
    host: Host
    secret: str
    other_secret: str

    def token(self, sub: str, expires_in: float = 600, secret: str | None = None, **claims) -> str:
        """A JWT as the site's backend signs it."""
        claims = {"sub": sub, "exp": int(time.time() + expires_in), **claims}
        return jwt.encode(claims, secret or self.secret, algorithm="HS256")

    def titles_of(self, sub: str) -> list[str]:
        """The titles of `sub`'s conversations, as the gateway keeps them."""
        headers = {"Origin": self.host.base, "X-AIChat-User": self.token(sub)}
        response = self.app.test_client().get(BASE, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [c["title"] for c in response.get_json()["conversations"]]


def _secret(app, domain: str) -> str:
    result = app.test_cli_runner().invoke(args=["sites", "identity-secret", domain])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def signed_in(widget_setup):
    app, host = widget_setup(AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY])
    created = app.test_cli_runner().invoke(args=["sites", "create", "other.test", "--origin", "https://other.test"])
    assert created.exit_code == 0, created.output
    setup = SignedIn(app, host, _secret(app, "shop.test"), _secret(app, "other.test"))
    assert setup.secret.startswith("aic_id_") and setup.other_secret != setup.secret
    runtime_of(app).tenancy.poll()
    return setup


def bound_chat(page, gateway: str) -> list[dict]:
    """The conversation-bound turns the page sends (`conversation_id` and `message`), recorded on their way."""
    bodies = []

    def handle(route):
        body = route.request.post_data_json or {}
        if "conversation_id" in body:
            bodies.append(body)
        route.continue_()

    page.route(f"{gateway}/api/v1/ai-proxy/chat", handle)
    return bodies


def history(page) -> list[str]:
    """Open the conversation list and read it (fetched afresh each time it opens)."""
    if page.locator("aichat-widget .history").is_visible():
        page.locator("aichat-widget .history-toggle").click()
    page.locator("aichat-widget .history-toggle").click()
    page.locator("aichat-widget .history li").first.wait_for()
    return page.locator("aichat-widget .history li").all_inner_texts()


def open_panel(page):
    page.locator("aichat-widget .launcher").click()
    page.locator("aichat-widget .panel").wait_for()


# From the page, straight to the conversation API: each method on one conversation id, as `token`'s user (or
# this browser's anonymous session).
DIRECT = """async ([gateway, site, token, id]) => {
  const headers = {'X-AIChat-Site': site, 'Content-Type': 'application/json'};
  if (token) headers['X-AIChat-User'] = token;
  else headers['X-AIChat-Session'] = localStorage.getItem(`aichat:${site}:session`) || 'A'.repeat(32);
  const seen = [];
  for (const method of ['GET', 'PATCH', 'DELETE']) {
    const body = method === 'PATCH' ? JSON.stringify({title: 'Mine now'}) : undefined;
    const response = await fetch(`${gateway}/api/v1/conversations/${id}`, {method, headers, body});
    seen.push([method, response.status, (await response.json()).error.code]);
  }
  return seen;
}"""


def test_one_user_on_two_browsers_shares_one_list_that_no_one_else_sees(signed_in, fake_openai, browser_page):
    s = signed_in
    first = load(browser_page(), s.host.url(user_token=s.token("alice", name="Alice")))
    bodies = bound_chat(first, s.host.gateway)
    second = load(browser_page(), s.host.url())
    second.evaluate("token => aichat.setUser(token)", s.token("alice"))
    open_panel(first)
    fake_openai.plan(text="Kyoto in spring: temples, gardens and cherry blossoms.")
    send(first, "Plan a trip to Kyoto")
    assert answered(first) == "Kyoto in spring: temples, gardens and cherry blossoms."
    assert len(bodies) == 1 and CONVERSATION_ID.fullmatch(bodies[0]["conversation_id"]), bodies
    assert bodies[0]["message"] == "Plan a trip to Kyoto" and "messages" not in bodies[0], "only the new message"
    conversation_id = bodies[0]["conversation_id"]
    assert first.evaluate(f"localStorage.getItem('aichat:{s.host.site}:conversations')") is None, \
        "a signed-in user's conversations are not kept in the browser's anonymous store"

    open_panel(second)
    assert history(second) == ["Plan a trip to Kyoto"]
    assert history(first) == ["Plan a trip to Kyoto"]
    first.locator("aichat-widget .history li").first.get_by_role("button", name=re.compile("^Rename")).click()
    first.locator("aichat-widget .rename input").fill("Kyoto in spring")
    first.locator("aichat-widget .rename input").press("Enter")
    first.wait_for_function(f"() => {SHADOW}.querySelector('.history .pick')?.textContent === 'Kyoto in spring'")
    screenshot(first, "signed-in-history")
    assert history(second) == ["Kyoto in spring"], "the other browser reads the list from the gateway"
    second.reload()
    second.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    second.evaluate("token => aichat.setUser(token)", s.token("alice"))
    open_panel(second)
    assert history(second) == ["Kyoto in spring"]
    assert s.titles_of("alice") == ["Kyoto in spring"]
    # The turn itself, stored by the gateway when the call ended, opens on the other browser.
    second.locator("aichat-widget .history .pick").first.click()
    second.wait_for_function(f"() => !{SHADOW}.querySelector('.log').hidden "
                             f"&& {SHADOW}.querySelectorAll('.log .message').length >= 2")
    assert second.locator("aichat-widget .log .message .body").all_inner_texts() == [
        "Plan a trip to Kyoto", "Kyoto in spring: temples, gardens and cherry blossoms."]

    bob = load(browser_page(), s.host.url(user_token=s.token("bob")))
    open_panel(bob)
    assert history(bob) == ["No conversations yet."], "another user"
    anonymous = load(browser_page(), s.host.url())
    open_panel(anonymous)
    assert history(anonymous) == ["No conversations yet."], "an anonymous visitor"
    args = [s.host.gateway, s.host.site, s.token("bob"), conversation_id]
    refused = [[method, 404, "conversation_not_found"] for method in ("GET", "PATCH", "DELETE")]
    assert bob.evaluate(DIRECT, args) == refused, "someone else's conversation is a 404, whatever the method"
    assert anonymous.evaluate(DIRECT, [*args[:2], None, conversation_id]) == refused
    assert s.titles_of("alice") == ["Kyoto in spring"], "untouched"
    for page in (first, second):
        clean(page, s.host)
    for page in (bob, anonymous):  # the six direct calls, each a failed load in the console
        clean(page, s.host, failed_loads=True)


REFUSED = {
    "forged": ("invalid_user_token", lambda s: s.token("alice", secret="aic_id_" + "f" * 43)),
    "expired": ("user_token_expired", lambda s: s.token("alice", expires_in=-120)),
    "another-site": ("invalid_user_token", lambda s: s.token("alice", secret=s.other_secret)),
}


@pytest.mark.parametrize("how", ["data-user-token", "setUser"])
@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_a_refused_token_is_dropped_and_the_widget_goes_on_anonymously(signed_in, fake_openai, browser_page,
                                                                       kind, how):
    s = signed_in
    code, make = REFUSED[kind]
    token = make(s)
    page = browser_page()
    refusals, user_headers = [], []
    page.on("response", lambda r: r.status >= 400 and refusals.append((r.status, r.url, r.json()["error"]["code"])))
    page.on("request", lambda r: "/api/v1/" in r.url and r.method != "OPTIONS" and "/settings" not in r.url
            and user_headers.append((r.url, r.headers.get("x-aichat-user"))))
    if how == "data-user-token":
        load(page, s.host.url(user_token=token))
    else:
        load(page, s.host.url())
        page.evaluate("token => aichat.setUser(token)", token)
    open_panel(page)
    status = page.locator("aichat-widget .status[data-kind=signedOut]")
    status.wait_for()
    assert status.inner_text().startswith("Your sign-in is no longer valid here")
    assert not page.locator("aichat-widget .retry").is_visible()
    assert refusals == [(401, f"{s.host.gateway}{BASE}?limit=50", code)], "one request, refused with a clear 401"
    errors = [detail for name, detail in page.evaluate("window.__events") if name == "error"]
    assert [(e["kind"], e["code"], e["status"]) for e in errors] == [("signedOut", code, 401)]
    if kind == "expired" and how == "data-user-token":
        screenshot(page, "signed-out")

    fake_openai.plan(text="Answered anonymously.")
    send(page, "Am I still able to chat?")
    assert answered(page) == "Answered anonymously."
    assert [header for _, header in user_headers] == [token, None], "the token is dropped after its refusal"
    assert not page.locator("aichat-widget .status").is_visible()
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('aichat:{s.host.site}:conversations'))")
    assert [c["title"] for c in stored["conversations"]] == ["Am I still able to chat?"]
    clean(page, s.host, failed_loads=True)
    assert [m for m in page.messages if m.startswith("error")] == [
        "error: Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"]


def test_a_token_refused_mid_conversation_keeps_the_question_and_nothing_of_the_user_in_the_browser(
        signed_in, fake_openai, browser_page):
    """The site's secret rotated with no grace: the next turn is refused, the widget goes on anonymously with the
    question back in the composer, and the user's conversation is not copied into this browser's storage."""
    s = signed_in
    page = load(browser_page(), s.host.url(user_token=s.token("erin")))
    bound_chat(page, s.host.gateway)
    open_panel(page)
    fake_openai.plan(text="A private answer.")
    send(page, "A private question")
    answered(page)
    rotated = s.app.test_cli_runner().invoke(args=["sites", "identity-secret", "shop.test", "--rotate", "--grace", "0"])
    assert rotated.exit_code == 0, rotated.output
    runtime_of(s.app).tenancy.poll()
    send(page, "A second private question")
    page.locator("aichat-widget .status[data-kind=signedOut]").wait_for()
    page.wait_for_function(f"() => {SHADOW}.querySelector('textarea').value === 'A second private question'")
    assert page.locator("aichat-widget .empty").is_visible(), "this browser's own (empty) conversations"
    assert page.evaluate(f"localStorage.getItem('aichat:{s.host.site}:conversations')") is None
    fake_openai.plan(text="Answered anonymously.")
    page.locator("aichat-widget textarea").press("Enter")
    assert answered(page) == "Answered anonymously."
    stored = page.evaluate(f"localStorage.getItem('aichat:{s.host.site}:conversations')")
    assert "A second private question" in stored and "A private" not in stored
    clean(page, s.host, failed_loads=True)


def test_the_hmac_form_of_a_user_token_signs_in_too(signed_in, fake_openai, browser_page):
    s = signed_in
    token = "hmac:carol:" + hmac.new(s.secret.encode(), b"carol", hashlib.sha256).hexdigest()
    page = load(browser_page(), s.host.url(user_token=token))
    bodies = bound_chat(page, s.host.gateway)
    open_panel(page)
    fake_openai.plan(text="Welcome back, Carol.")
    send(page, "Hello from the old widget")
    assert answered(page) == "Welcome back, Carol."
    assert len(bodies) == 1
    assert s.titles_of("carol") == ["Hello from the old widget"], "the same user as a JWT naming carol"
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    open_panel(page)
    assert history(page) == ["Hello from the old widget"]
    clean(page, s.host)


def test_where_the_site_keeps_them_apart_sign_in_leaves_this_browsers_conversations_and_logout_brings_them_back(
        signed_in, fake_openai, browser_page):
    s = signed_in
    apart = s.app.test_cli_runner().invoke(args=["sites", "update", "shop.test", "--no-merge-anonymous"])
    assert apart.exit_code == 0, apart.output
    runtime_of(s.app).tenancy.poll()
    page = load(browser_page(), s.host.url())
    merging = []
    page.on("request", lambda r: r.method == "POST" and re.search(r"/conversations/(import|claim)$", r.url)
            and merging.append(r.url))
    bound_chat(page, s.host.gateway)
    open_panel(page)
    fake_openai.plan(text="An anonymous answer.")
    send(page, "An anonymous question")
    answered(page)
    page.evaluate("token => aichat.setUser(token)", s.token("dave"))
    assert page.locator("aichat-widget .empty").is_visible(), "the user's conversations, not this browser's"
    assert history(page) == ["No conversations yet."]
    page.locator("aichat-widget .history-toggle").click()
    fake_openai.plan(text="A signed-in answer.")
    send(page, "A signed-in question")
    answered(page)
    assert s.titles_of("dave") == ["A signed-in question"], "the anonymous conversation stays in the browser"
    assert merging == [], "nothing uploaded or claimed"

    page.evaluate("aichat.logout()")
    assert page.locator("aichat-widget .message .body").all_inner_texts() == [
        "An anonymous question", "An anonymous answer."]
    assert history(page) == ["An anonymous question"]
    stored = page.evaluate(f"localStorage.getItem('aichat:{s.host.site}:conversations')")
    assert "An anonymous question" in stored and "signed-in" not in stored
    held = []  # the user's list, asked for by the sign-in and by the list opened, held while the panel is looked at
    lists = re.compile(r".*/api/v1/conversations\?limit=50$")
    page.route(lists, lambda route: held.append(route))
    page.evaluate("token => { aichat.setUser(token); }", s.token("dave"))
    page.locator("aichat-widget .history-toggle").click()
    while len(held) < 2:
        page.wait_for_timeout(20)
    assert page.locator("aichat-widget .history li").count() == 0, "no one's titles while the list loads"
    page.unroute(lists)
    for route in held:
        route.continue_()
    page.locator("aichat-widget .history .pick").first.wait_for()
    assert page.locator("aichat-widget .history li").all_inner_texts() == ["A signed-in question"]
    clean(page, s.host)
