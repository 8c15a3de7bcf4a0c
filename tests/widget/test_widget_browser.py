"""The widget in headless Chromium, on a host page of another origin whose CSP allows only itself and the gateway."""
import re

from aichat.providers.base import SUGGESTIONS_MARKER
from tests.widget.conftest import screenshot

EVENTS = """
window.__events = [];
for (const name of ['ready', 'open', 'close', 'message', 'error'])
  window.addEventListener('aichat:' + name, e => window.__events.push([name, e.detail]));
"""
SHADOW = "document.querySelector('aichat-widget').shadowRoot"
ANSWERED = f"""n => {{ const all = {SHADOW}.querySelectorAll('.message.assistant');
  return all.length >= n && all[all.length - 1].getAttribute('aria-busy') === 'false'; }}"""
# Each DOM change of the answer while it streams: its text length then, and whether it was still busy.
OBSERVE = f"""() => {{ window.__seen = []; const log = {SHADOW}.querySelector('.log');
  new MutationObserver(() => {{ const all = log.querySelectorAll('.message.assistant');
    const last = all[all.length - 1];
    if (last) window.__seen.push([last.querySelector('.body').textContent.length, last.getAttribute('aria-busy')]);
  }}).observe(log, {{subtree: true, childList: true, characterData: true, attributes: true}}); }}"""


def load(page, url):
    page.add_init_script(EVENTS)
    page.goto(url)
    page.wait_for_function("() => window.__events && window.__events.some(e => e[0] === 'ready')")
    return page


def send(page, text):
    page.locator("aichat-widget textarea").fill(text)
    page.locator("aichat-widget textarea").press("Enter")


def answered(page, count=1):
    page.wait_for_function(ANSWERED, arg=count)
    return page.locator("aichat-widget .message.assistant .body").nth(count - 1).inner_text()


def clean(page, host, failed_loads=False):
    """No console error, no CSP violation in the page, no report at the host's report endpoint. With
    `failed_loads`, Chromium's own line for each request that failed (a 429, offline) is expected."""
    assert page.evaluate("window.__violations") == []
    errors = [m for m in page.messages if m.startswith(("error", "pageerror"))]
    if failed_loads:
        errors = [m for m in errors if not m.startswith("error: Failed to load resource")]
    assert errors == []
    page.wait_for_timeout(200)  # reports are sent asynchronously
    assert host.reports == []


def test_the_tag_streams_an_answer_on_a_strict_csp_page_of_another_origin(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    launcher = page.locator("aichat-widget .launcher")
    assert launcher.is_visible(), "the host's `button {display: none !important}` does not reach the shadow root"
    assert launcher.get_attribute("aria-label") == "Open chat"
    assert page.evaluate(f"getComputedStyle({SHADOW}.querySelector('.launcher')).borderRadius") == "50%"
    launcher.click()
    assert page.locator("aichat-widget .panel").is_visible()
    page.evaluate(OBSERVE)
    words = "Streaming works one word at a time through the gateway to the page"
    fake_openai.plan(text=words + f"\n{SUGGESTIONS_MARKER}[\"What else?\", \"Show me more\"]", chunk_interval=0.12)
    send(page, "Hello there")
    assert answered(page) == words
    lengths = {length for length, busy in page.evaluate("window.__seen") if busy == "true" and length}
    assert len(lengths) >= 3, f"the answer appeared at once, not as it streamed: {lengths}"
    assert page.locator("aichat-widget .suggestion").all_inner_texts() == ["What else?", "Show me more"]
    session = page.evaluate(f"localStorage.getItem('aichat:{host.site}:session')")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", session), session
    names = [name for name, _ in page.evaluate("window.__events")]
    assert names == ["ready", "open", "message", "message"], names
    screenshot(page, "desktop-light")
    page.locator("aichat-widget .suggestion").first.click()
    answered(page, 2)
    assert page.locator("aichat-widget .message.user .body").all_inner_texts()[-1] == "What else?"
    clean(page, host)


def test_a_page_whose_policy_allows_only_a_nonce_gets_it_on_the_widgets_stylesheet(widget_setup, fake_openai,
                                                                                   browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url(nonce="r4nd0mN0nce"))
    assert "style-src 'nonce-r4nd0mN0nce'" in host.csp("r4nd0mN0nce")
    assert page.evaluate(f"getComputedStyle({SHADOW}.querySelector('.launcher')).borderRadius") == "50%"
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(text="Styled under a nonce.")
    send(page, "Hello")
    assert answered(page) == "Styled under a nonce."
    clean(page, host)


def test_stop_aborts_the_answer_and_the_upstream_sees_the_client_go(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(chunks=60, chunk_interval=0.2)
    send(page, "Tell me a long story")
    page.wait_for_function(f"() => {SHADOW}.querySelector('.message.assistant .body').textContent.length > 5")
    page.locator("aichat-widget .stop").click()
    assert fake_openai.wait_for_disconnect(timeout=5), "the gateway did not close the upstream call"
    assert not fake_openai.streams[0].completed
    answered(page)
    assert page.locator("aichat-widget .message.assistant .note").inner_text() == "Stopped."
    assert page.locator("aichat-widget .send").is_visible() and not page.locator("aichat-widget .stop").is_visible()
    clean(page, host)


def test_a_reload_restores_the_conversations_kept_in_this_browser(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(text="Paris is the capital of France.")
    send(page, "What is the capital of France?")
    answered(page)
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    page.locator("aichat-widget .launcher").click()
    assert page.locator("aichat-widget .message .body").all_inner_texts() == [
        "What is the capital of France?", "Paris is the capital of France."]
    page.locator("aichat-widget .new").click()
    assert page.locator("aichat-widget .empty").is_visible()
    fake_openai.plan(text="Hello again.")
    send(page, "A second conversation")
    answered(page)
    page.locator("aichat-widget .history-toggle").click()
    assert page.locator("aichat-widget .history .pick").all_inner_texts() == [
        "A second conversation", "What is the capital of France?"]
    page.locator("aichat-widget .history li").nth(1).get_by_role("button", name=re.compile("^Rename")).click()
    page.locator("aichat-widget .rename input").fill("Geography")
    page.locator("aichat-widget .rename input").press("Enter")
    page.wait_for_function(f"() => {SHADOW}.querySelectorAll('.history .pick').length === 2")
    screenshot(page, "history")
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    page.locator("aichat-widget .launcher").click()
    assert page.locator("aichat-widget .message.assistant").inner_text().endswith("Hello again.")
    page.locator("aichat-widget .history-toggle").click()
    assert page.locator("aichat-widget .history .pick").all_inner_texts() == ["A second conversation", "Geography"]
    page.locator("aichat-widget .history .pick").nth(1).click()
    assert "Paris" in page.locator("aichat-widget .log").inner_text()
    page.locator("aichat-widget .history-toggle").click()
    page.locator("aichat-widget .history li").nth(0).get_by_role("button", name=re.compile("^Delete")).click()
    page.wait_for_function(f"() => {SHADOW}.querySelectorAll('.history .pick').length === 1")
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('aichat:{host.site}:conversations'))")
    assert [c["title"] for c in stored["conversations"]] == ["Geography"]
    page.evaluate("aichat.reset()")
    assert page.evaluate(f"localStorage.getItem('aichat:{host.site}:conversations')") is None
    clean(page, host)


HOSTILE = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"><circle r=\"10\" onmouseover=\"window.__pwned = 1\"/></svg>",
    "[click me](javascript:window.__pwned='link')",
    "[JS cased](JaVaScRiPt:window.__pwned='cased') and [entity](javascript&#58;window.__pwned=1)",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href=\"javascript:window.__pwned='a'\">html link</a>",
    "![x](javascript:window.__pwned='image') and ![pixel](https://tracker.invalid/pixel.png)",
    "&lt;script&gt;window.__pwned = 'entity'&lt;/script&gt; &#x3C;img src=x onerror=window.__pwned=1&#x3E;",
    "<iframe srcdoc=\"<script>parent.__pwned = 'iframe'</script>\"></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__pwned = 'mxss'\">",
    "<details open ontoggle=\"window.__pwned = 'details'\">x</details>",
    "<style>*{display:none}</style><form action=\"javascript:1\"><input autofocus onfocus=\"window.__pwned=1\">",
    "**bold [unclosed](http://a.example \"t\" <b onmouseover=window.__pwned=1>x</b>",
    "```html\n<script>window.__pwned = 'fence'</script>\n",
    "A [safe link](https://example.com/safe) and <https://example.org/auto>.",
]
INERT = f"""() => {{ const log = {SHADOW}.querySelector('.log');
  const all = Array.from(log.querySelectorAll('*'));
  return {{
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    tags: [...new Set(all.map(e => e.localName))].sort(),
    handlers: all.flatMap(e => Array.from(e.attributes).filter(a => /^on/i.test(a.name)).map(a => a.name)),
    hrefs: Array.from(log.querySelectorAll('[href]')).map(a => a.getAttribute('href')),
    rels: Array.from(log.querySelectorAll('a[href]')).map(a => a.rel + ' ' + a.target),
    text: log.textContent,
  }}; }}"""
ALLOWED_TAGS = {"a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
                "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"}


def _check_inert(page):
    found = page.evaluate(INERT)
    assert found["pwned"] is None, f"model output ran script: {found['pwned']}"
    assert set(found["tags"]) <= ALLOWED_TAGS, set(found["tags"]) - ALLOWED_TAGS
    assert found["handlers"] == []
    assert all(re.match(r"https?://", href) for href in found["hrefs"]), found["hrefs"]
    assert set(found["rels"]) == {"noopener noreferrer _blank"}, found["rels"]
    assert "https://example.com/safe" in found["hrefs"]
    return found


def test_hostile_answers_render_inert(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    requested = []
    page.on("request", lambda req: requested.append(req.url))
    page.locator("aichat-widget .launcher").click()
    for number, answer in enumerate(HOSTILE, start=1):
        fake_openai.plan(text=answer)
        send(page, "<img src=x onerror=\"window.__pwned = 'user'\"> answer number " + str(number))
        answered(page, number)
    # Everything a visitor might do to an element, done to every element of the transcript.
    page.evaluate(f"""() => {{ for (const el of {SHADOW}.querySelectorAll('.log *'))
      for (const type of ['mouseover', 'click', 'focus', 'toggle', 'load', 'error'])
        el.dispatchEvent(new Event(type)); }}""")
    found = _check_inert(page)
    assert "<script>window.__pwned = 'script'</script>" in found["text"], "raw HTML is shown as text"
    assert "<script>window.__pwned = 'entity'</script>" in found["text"], "entities are text"
    assert "<img src=x onerror=\"window.__pwned = 'user'\">" in found["text"], "the user's text is text"
    page.reload()
    page.wait_for_function("() => window.__events.some(e => e[0] === 'ready')")
    page.locator("aichat-widget .launcher").click()
    _check_inert(page)
    screenshot(page, "hostile-answers")
    assert not [url for url in requested if "tracker.invalid" in url or url.endswith("/x")], requested
    clean(page, host)


def test_chinese_and_english(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(locale="en-US"), host.url(lang="zh-CN"))
    launcher = page.locator("aichat-widget .launcher")
    assert launcher.get_attribute("aria-label") == "打开聊天", "the page's lang wins over the browser's"
    launcher.click()
    assert page.locator("aichat-widget textarea").get_attribute("placeholder") == "请输入问题…"
    assert page.locator("aichat-widget h2").inner_text() == "聊天"
    fake_openai.plan(text="你好！有什么可以帮你？")
    send(page, "你好")
    assert answered(page) == "你好！有什么可以帮你？"
    screenshot(page, "zh-CN")
    page.evaluate("aichat.setLocale('en')")
    assert launcher.get_attribute("aria-label") == "Close chat"
    assert page.locator("aichat-widget textarea").get_attribute("placeholder") == "Ask a question…"
    assert page.locator("aichat-widget .message.user .speaker").inner_text().strip() == "You:"
    other = load(browser_page(locale="zh-CN"), host.url(lang="fr", locale="en"))
    assert other.locator("aichat-widget .launcher").get_attribute("aria-label") == "Open chat", "data-locale wins"
    third = load(browser_page(locale="zh-CN"), host.url(lang="fr"))
    assert third.locator("aichat-widget .launcher").get_attribute("aria-label") == "打开聊天", "then the browser's"
    clean(page, host)


def test_a_phone_opens_it_full_screen_with_inputs_that_do_not_zoom(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                             device_scale_factor=2), host.url(theme="dark"))
    page.locator("aichat-widget .launcher").tap()
    box = page.locator("aichat-widget .panel").bounding_box()
    assert (round(box["x"]), round(box["y"]), round(box["width"]), round(box["height"])) == (0, 0, 390, 844)
    size = page.evaluate(f"getComputedStyle({SHADOW}.querySelector('textarea')).fontSize")
    assert float(size.rstrip("px")) >= 16
    fake_openai.plan(text="On a phone, the **panel** takes the whole screen.\n\n- one\n- two")
    send(page, "How does it look on a phone?")
    answered(page)
    screenshot(page, "phone-dark")
    page.locator("aichat-widget .close").tap()
    assert page.locator("aichat-widget .launcher").is_visible()
    clean(page, host)


def _focused(page):
    """What has the keyboard focus inside the widget: its class and label, or None outside it."""
    return page.evaluate(f"""() => {{ if (document.activeElement !== document.querySelector('aichat-widget'))
        return null; const el = {SHADOW}.activeElement;
        return el ? [el.className || el.localName, el.getAttribute('aria-label') || el.textContent] : null; }}""")


def test_the_keyboard_reaches_every_control_and_stays_in_the_open_panel(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    for _ in range(5):
        page.keyboard.press("Tab")
        if _focused(page):
            break
    assert _focused(page) == ["icon launcher", "Open chat"]
    page.keyboard.press("Enter")
    assert _focused(page) == ["textarea", "Message"]
    fake_openai.plan(text=f"An answer with [a link](https://example.com).\n{SUGGESTIONS_MARKER}[\"Next?\"]")
    page.keyboard.type("Hello from the keyboard")
    page.keyboard.press("Enter")
    answered(page)
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(tuple(_focused(page) or ("outside", "")))
    labels = {label for _, label in seen}
    assert {"Conversations", "New conversation", "Close chat", "Chat", "a link", "Next?", "Message", "Send"} <= labels, seen
    assert ("outside", "") not in seen, "Tab left the open panel"
    page.keyboard.press("Shift+Tab")
    assert _focused(page) is not None
    for _ in range(12):
        if _focused(page)[1] == "Conversations":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert _focused(page)[0] == "pick"
    page.keyboard.press("Tab")
    assert _focused(page)[1].startswith("Rename: ")
    page.keyboard.press("Tab")
    assert _focused(page)[1].startswith("Delete: ")
    page.keyboard.press("Escape")  # closes the list first
    assert page.locator("aichat-widget .log").is_visible()
    page.keyboard.press("Escape")  # then the panel, and the focus goes back to the launcher
    assert not page.locator("aichat-widget .panel").is_visible()
    assert _focused(page) == ["icon launcher", "Open chat"]
    clean(page, host)


def test_a_429_shows_the_rate_limited_state_and_retry_works_later(widget_setup, fake_openai, browser_page):
    app, host = widget_setup("--rpm", "1")
    page = load(browser_page(), host.url())
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(text="First answer.")
    send(page, "one")
    answered(page)
    send(page, "two")
    status = page.locator("aichat-widget .status[data-kind=rateLimited]")
    status.wait_for()
    assert re.search(r"Try again in \d+ s", status.inner_text()), status.inner_text()
    assert page.locator("aichat-widget .retry").is_visible()
    errors = [detail for name, detail in page.evaluate("window.__events") if name == "error"]
    assert errors and errors[-1]["kind"] == "rateLimited" and errors[-1]["retryAfter"] > 0, errors
    screenshot(page, "rate-limited")
    # The user's message stays, ready to be sent again; nothing reached the upstream.
    assert page.locator("aichat-widget .message.user .body").all_inner_texts()[-1] == "two"
    assert len(fake_openai.requests) == 1
    clean(page, host, failed_loads=True)


def test_offline_and_upstream_down_have_their_own_states(widget_setup, fake_openai, browser_page):
    app, host = widget_setup()
    page = load(browser_page(), host.url())
    page.locator("aichat-widget .launcher").click()
    fake_openai.plan(error="server_error", times=4)
    send(page, "Are you there?")
    page.locator("aichat-widget .status[data-kind=upstream]").wait_for()
    fake_openai.reset()
    fake_openai.plan(text="Back again.")
    page.locator("aichat-widget .retry").click()
    assert answered(page) == "Back again."
    assert not page.locator("aichat-widget .status").is_visible()
    assert page.locator("aichat-widget .message.user").count() == 1, "a retry does not repeat the question"
    page.context.set_offline(True)
    send(page, "And now?")
    page.locator("aichat-widget .status[data-kind=offline]").wait_for()
    page.context.set_offline(False)
    page.locator("aichat-widget .status[data-kind=online]").wait_for()
    fake_openai.plan(text="Online.")
    page.locator("aichat-widget .retry").click()
    assert answered(page, 2) == "Online."
    clean(page, host, failed_loads=True)
