"""Fixtures for the console: a logged-in test client helper and a real Chromium page."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Every page a signed-in admin can open.
CONSOLE_PAGES = ["/admin/", "/admin/costs", "/admin/logs", "/admin/errors", "/admin/admins", "/admin/audit",
                 "/admin/playground", "/admin/upstreams", "/admin/prices", "/admin/sites", "/admin/sites/localhost",
                 "/admin/conversations"]


def csrf_token(client, path: str = "/admin/login") -> str:
    """The CSRF token of the form on `path`, as a browser would find it."""
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token in {path}"
    return match.group(1)


def login(client, username: str = "admin", password: str = PASSWORD, **form):
    """POST the login form with a fresh CSRF token; returns the response (not followed)."""
    data = {"csrf_token": csrf_token(client), "username": username, "password": password, **form}
    return client.post("/admin/login", data=data)


def signed_in(app, username: str = "admin", page: str = "/admin/"):
    """A test client signed in as `username`, and the CSRF token of the forms on `page`."""
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client, csrf_token(client, page)


@pytest.fixture
def viewer_console(app, make_admin):
    """A test client signed in as a viewer."""
    make_admin(app, "viewer", token=False, role="viewer")
    return signed_in(app, "viewer")[0]


def lock_admin(app, username: str) -> None:
    """Lock an admin's sign-in for a day, as repeated failures would."""
    from aichat.admin import accounts
    from aichat.extensions import db

    with app.app_context():
        admin = accounts.get(username)
        admin.failed_logins, admin.locked_until = 5, datetime.now(timezone.utc) + timedelta(days=1)
        db.session.commit()


@pytest.fixture
def page(_browser):
    """A fresh browser context (no cookies) and a page in it (`_browser`: tests/conftest.py)."""
    context = _browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
