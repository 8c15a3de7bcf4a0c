"""Console sessions: cookie flags, an idle timeout and an absolute lifetime, and the page that says so."""
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import pytest

from aichat.admin import sessions
from tests.admin.conftest import login

EXPIRED = "Your session expired. Please sign in again."


def _session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


@pytest.mark.parametrize("settings, secure", [({}, True), ({"AICHAT_ENV": "development"}, False),
                                              ({"SESSION_COOKIE_SECURE": False}, False),
                                              ({"AICHAT_ENV": "development", "SESSION_COOKIE_SECURE": True}, True)])
def test_the_session_cookie_is_httponly_lax_and_secure_in_production(make_app, make_admin, settings, secure):
    app = make_app(**settings)
    make_admin(app, token=False)
    cookie = _session_cookie(login(app.test_client()))
    flags = [part.strip() for part in cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags
    assert ("Secure" in flags) is secure
    expires = parsedate_to_datetime(next(f for f in flags if f.startswith("Expires=")).partition("=")[2])
    lifetime = (expires - datetime.now(timezone.utc)).total_seconds() / 3600
    assert 11.9 < lifetime <= 12, "the cookie lives as long as the session may"


def test_the_secure_setting_is_read_from_the_environment(app_from_environment, monkeypatch):
    assert app_from_environment().config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("AICHAT_ENV", "development")
    assert app_from_environment().config["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    assert app_from_environment().config["SESSION_COOKIE_SECURE"] is True


def _signed_in(app):
    client = app.test_client()
    assert login(client).status_code == 302
    assert client.get("/admin/").status_code == 200
    return client


def _age(client, since_ago: float, seen_ago: float) -> None:
    now = int(time.time())
    with client.session_transaction() as session:
        session[sessions.SINCE], session[sessions.SEEN] = now - int(since_ago), now - int(seen_ago)


@pytest.fixture
def console(make_app, make_admin):
    app = make_app(AICHAT_SESSION_IDLE_MINUTES=30, AICHAT_SESSION_LIFETIME_HOURS=12)
    make_admin(app, token=False)
    return app


@pytest.mark.parametrize("since_ago, seen_ago", [(3600, 31 * 60), (12 * 3600 + 60, 10)],
                         ids=["idle", "lifetime"])
def test_an_old_session_ends_and_the_login_page_says_why(console, since_ago, seen_ago):
    client = _signed_in(console)
    _age(client, since_ago, seen_ago)
    resp = client.get("/admin/audit")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/login?next=/admin/audit&expired=1"
    page = client.get(resp.headers["Location"])
    assert EXPIRED in page.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302, "the expired session was not cleared"
    assert client.get("/api/v1/ai-monitoring/summary").status_code == 401


def test_a_session_in_use_stays_open_and_its_idle_clock_restarts(console):
    client = _signed_in(console)
    _age(client, 3 * 3600, 29 * 60)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as session:
        assert time.time() - session[sessions.SEEN] < 5
    assert client.get("/api/v1/ai-monitoring/summary").status_code == 200


def test_a_session_from_before_the_clocks_is_ended(console):
    client = _signed_in(console)
    with client.session_transaction() as session:
        del session[sessions.SINCE]
    assert client.get("/admin/").status_code == 302


def test_the_login_page_warns_when_a_secure_cookie_cannot_stick(console):
    """Plain HTTP to another host with a Secure cookie: the browser would drop it, so the page says so."""
    page = console.test_client().get("/admin/login", base_url="http://console.example.com").get_data(as_text=True)
    assert 'id="insecure-cookie"' in page
    assert console.test_client().get("/admin/login", headers={"Host": "[bad"}).status_code == 200
    for base in ("https://console.example.com", "http://127.0.0.1:5000", "http://localhost", "http://[::1]:80"):
        assert 'id="insecure-cookie"' not in console.test_client().get("/admin/login", base_url=base).get_data(
            as_text=True), base
