"""The login page in headless Chromium against a live server: cookies, redirects and the session's reach."""
from tests.admin.conftest import PASSWORD

SUMMARY = "/api/v1/ai-monitoring/summary"
FETCH = "url => fetch(url, {credentials: 'same-origin'}).then(r => r.status)"


def _sign_in(page, username, password):
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_wrong_password_shows_the_error(app, make_admin, live_server, page):
    make_admin(app, token=False)
    base = live_server(app)
    page.goto(base + "/admin/login")
    assert page.title() == "Sign in · aichat"
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        _sign_in(page, "admin", "not the password")
    assert answer.value.status == 401
    assert page.locator("[role=alert]").inner_text().strip() == "Wrong username or password."
    assert page.input_value("#username") == "admin" and page.input_value("#password") == ""


def test_login_reaches_the_console_and_the_session_opens_the_monitoring_api(app, make_admin, live_server, page):
    make_admin(app, token=False)
    base = live_server(app)
    page.goto(base + "/admin/")
    assert page.url == base + "/admin/login?next=/admin/"
    _sign_in(page, "admin", PASSWORD)
    assert page.url == base + "/admin/"
    assert page.locator("#current-admin").inner_text() == "admin"
    session = [c for c in page.context.cookies() if c["name"] == "session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"

    assert page.evaluate(FETCH, SUMMARY) == 200

    page.click("text=Sign out")
    page.wait_for_url(base + "/admin/login")
    assert page.evaluate(FETCH, SUMMARY) == 401
    page.goto(base + "/admin/")
    assert page.url.startswith(base + "/admin/login")
