"""Every console page in headless Chromium with the Content-Security-Policy in force: styled, and not one violation."""
import pytest

from aichat import audit
from tests.admin.conftest import CONSOLE_PAGES, PASSWORD

# Listens before any page script runs; Playwright's init scripts are not subject to the page's CSP.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""
INLINE_SCRIPT = """() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
  document.body.appendChild(s); return window.__ran === 1; }"""
INLINE_STYLE = """() => { const d = document.createElement('div'); d.setAttribute('style', 'width: 123px');
  document.body.appendChild(d); return getComputedStyle(d).width; }"""


@pytest.fixture
def console(app, make_admin, live_server, page):
    """A live console with a viewer signed in in `page`, and an audit row to show."""
    make_admin(app, "owner", token=False)
    make_admin(app, "viewer", token=False, role="viewer")
    with app.app_context():
        audit.record("upstreams.add", "upstream", "deepseek", after={"base_url": "https://api.deepseek.com/v1"},
                     actor="cli:ops", address="cli")
    base = live_server(app)
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.add_init_script(WATCH)
    page.messages = messages
    return base, page


def _sign_in(page, base, username):
    page.goto(base + "/admin/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _check(page, url_path):
    """The page is styled by its stylesheet, its headers are there, and the browser saw no violation."""
    assert page.evaluate("window.__violations") == [], url_path
    assert not [m for m in page.messages if "Content Security Policy" in m], (url_path, page.messages)
    assert page.evaluate("getComputedStyle(document.querySelector('.card')).borderTopLeftRadius") == "10px", url_path


def test_every_console_page_loads_under_the_policy_without_a_violation(console):
    base, page = console
    response = page.goto(base + "/admin/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    _check(page, "/admin/login")
    _sign_in(page, base, "viewer")
    for path in (*CONSOLE_PAGES, "/admin/audit?actor=cli:ops"):
        response = page.goto(base + path)
        assert response.status == 200 and response.headers["referrer-policy"] == "same-origin", path
        _check(page, path)
    assert "deepseek" in page.inner_text("#audit")
    # A viewer's change: the refusal page is checked too.
    with page.expect_navigation():
        page.evaluate("""base => { const f = document.createElement('form'); f.method = 'post';
            f.action = base + '/admin/admins/owner/unlock';
            const t = document.createElement('input'); t.name = 'csrf_token';
            t.value = document.querySelector('input[name=csrf_token]').value; f.appendChild(t);
            document.body.appendChild(f); f.submit(); }""", base)
    assert page.title() == "Not allowed · aichat"
    _check(page, "forbidden")
    page.click("text=Sign out")
    page.wait_for_url(base + "/admin/login")
    _check(page, "after sign-out")


def test_the_policy_is_in_force_inline_script_and_style_are_blocked(console):
    """Is the policy really applied by the browser (so 'no violation' above means something)?"""
    base, page = console
    page.goto(base + "/admin/login")
    assert page.evaluate(INLINE_SCRIPT) is False
    assert page.evaluate(INLINE_STYLE) != "123px"
    page.wait_for_function("window.__violations.length >= 2")
    assert {v.split(" ")[0] for v in page.evaluate("window.__violations")} == {"script-src-elem", "style-src-attr"}


def test_the_console_cannot_be_framed(console):
    base, page = console
    page.goto(base + "/health")  # a same-origin page that tries to frame the console
    page.evaluate("""url => new Promise(done => { const f = document.createElement('iframe'); f.src = url;
        f.onload = done; document.body.appendChild(f); setTimeout(done, 3000); })""", base + "/admin/login")
    frame = page.frames[-1]
    assert frame.url in ("about:blank", "chrome-error://chromewebdata/") or "Sign in" not in frame.content()
