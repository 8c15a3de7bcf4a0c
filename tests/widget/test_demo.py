"""`/demo`: the widget's tag on a page of the gateway, under the gateway's own strict CSP."""
from aichat.runtime import runtime_of
from tests.widget.conftest import WATCH, screenshot


def test_the_demo_page_carries_the_tag_of_the_local_site(client, app):
    resp = client.get("/demo")
    assert resp.status_code == 200
    site = runtime_of(app).directory.local_site.publishable_key
    html = resp.get_data(as_text=True)
    assert f'src="/static/aichat/widget.js" data-site="{site}" defer' in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert 'lang="zh-CN"' in client.get("/demo?lang=zh-CN").get_data(as_text=True)
    assert 'lang="en"' in client.get("/demo?lang=<script>").get_data(as_text=True)


def test_the_demo_chats_in_a_browser_without_a_violation(app, live_server, _browser):
    base = live_server(app)
    context = _browser.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    page.add_init_script(WATCH)
    page.goto(base + "/demo")
    page.locator("button[data-call=send]").click()
    page.wait_for_function("""() => { const a = document.querySelector('aichat-widget').shadowRoot
      .querySelectorAll('.message.assistant'); return a.length && a[0].getAttribute('aria-busy') === 'false'; }""")
    assert page.locator("aichat-widget .message.assistant .body").inner_text().strip()
    assert page.locator("#events li").count() >= 3
    screenshot(page, "demo")
    assert page.evaluate("window.__violations") == []
    assert [m for m in messages if m.startswith("error")] == []
    context.close()
