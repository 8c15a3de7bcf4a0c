"""The login page through Flask's test client: CSRF, generic failures, the attempt limit, safe redirects."""
import re

import pytest

from aichat.admin import accounts
from aichat.admin.redirects import safe_next
from aichat.extensions import db
from aichat.models import AdminUser
from tests.admin.conftest import PASSWORD, csrf_token, login

GENERIC = "Wrong username or password."


def _alert(resp) -> str:
    match = re.search(r'<p class="alert" role="alert">(.*?)</p>', resp.get_data(as_text=True), re.S)
    return match.group(1).strip() if match else ""


def _logged_in_as(client) -> str | None:
    resp = client.get("/admin/")
    if resp.status_code != 200:
        return None
    return re.search(r'id="current-admin">([^<]+)<', resp.get_data(as_text=True)).group(1)


@pytest.fixture
def admin_client(app, make_admin):
    make_admin(app, token=False, role="admin")  # not an owner: the last owner cannot be disabled
    return app.test_client()


def test_the_login_page(client):
    resp = client.get("/admin/login")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert '<html lang="en">' in html and 'name="viewport"' in html and "/static/css/admin.css" in html
    assert 'name="username"' in html and 'type="password"' in html and 'name="csrf_token"' in html
    assert client.get("/static/css/admin.css").status_code == 200


def test_pages_send_strangers_to_the_login_page(client):
    resp = client.get("/admin/")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/login?next=/admin/"


def test_the_way_back_keeps_the_query(admin_client):
    back = admin_client.get("/admin/?tab=keys").headers["Location"]
    page = admin_client.get(back).get_data(as_text=True)
    assert 'name="next" value="/admin/?tab=keys"' in page
    assert login(admin_client, next="/admin/?tab=keys").headers["Location"] == "/admin/?tab=keys"


def test_right_password_logs_in_and_records_the_login(app, admin_client):
    resp = login(admin_client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"
    assert _logged_in_as(admin_client) == "admin"
    with app.app_context():
        assert accounts.get("admin").last_login_at is not None


@pytest.mark.parametrize("username, password", [
    ("admin", "wrong password!"), ("nobody", PASSWORD), ("nobody", "wrong password!"), ("", ""),
    ("admin", ""), ("a" * 500, PASSWORD),
])
def test_failures_get_401_and_one_generic_message(admin_client, username, password):
    resp = login(admin_client, username, password)
    assert resp.status_code == 401
    assert _alert(resp) == GENERIC
    assert PASSWORD not in resp.get_data(as_text=True), "the password is never sent back"
    assert _logged_in_as(admin_client) is None


def test_a_disabled_admin_cannot_log_in(app, admin_client):
    with app.app_context():
        accounts.set_active(accounts.get("admin"), False)
    resp = login(admin_client)
    assert resp.status_code == 401 and _alert(resp) == GENERIC
    assert _logged_in_as(admin_client) is None


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_missing_or_wrong_csrf_token_is_400(admin_client, token):
    data = {"username": "admin", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    admin_client.get("/admin/login")
    resp = admin_client.post("/admin/login", data=data)
    assert resp.status_code == 400
    assert _alert(resp) == "This form has expired. Please sign in again."
    assert _logged_in_as(admin_client) is None


def test_a_token_from_another_session_is_refused(app, admin_client):
    stolen = csrf_token(app.test_client())
    admin_client.get("/admin/login")
    resp = admin_client.post("/admin/login", data={"csrf_token": stolen, "username": "admin", "password": PASSWORD})
    assert resp.status_code == 400


def test_attempts_are_limited_per_address(make_app, make_admin):
    app = make_app(AICHAT_LOGIN_RATE_LIMIT="3/minute")
    make_admin(app, token=False)
    client = app.test_client()
    for _ in range(3):
        assert login(client, password="wrong password!").status_code == 401
    resp = login(client)
    assert resp.status_code == 429, "the right password does not get past the limit either"
    assert int(resp.headers["Retry-After"]) >= 1
    assert _alert(resp).startswith("Too many sign-in attempts")
    assert _logged_in_as(client) is None
    assert client.get("/admin/login").status_code == 200, "the page itself stays reachable"
    other = app.test_client()
    token = csrf_token(other)
    elsewhere = other.post("/admin/login", data={"csrf_token": token, "username": "admin", "password": PASSWORD},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 302, "another address has its own budget"


@pytest.mark.parametrize("target", [
    "https://evil.example", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "http:/evil.example", "javascript:alert(1)", "/admin/\r\nSet-Cookie: x=1", "evil.example", "",
])
def test_next_never_leaves_the_site(admin_client, target):
    resp = login(admin_client, next=target)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_next_to_a_local_path_is_followed(admin_client):
    resp = login(admin_client, next="/admin/?tab=keys")
    assert resp.headers["Location"] == "/admin/?tab=keys"


def test_next_survives_the_trip_through_the_login_page(admin_client):
    page = admin_client.get("/admin/login?next=/admin/%3Ftab%3Dkeys").get_data(as_text=True)
    assert 'name="next" value="/admin/?tab=keys"' in page
    hostile = admin_client.get("/admin/login?next=//evil.example").get_data(as_text=True)
    assert 'name="next"' not in hostile


def test_logged_in_visitors_to_the_login_page_go_on(admin_client):
    login(admin_client)
    assert admin_client.get("/admin/login").headers["Location"] == "/admin/"
    assert admin_client.get("/admin/login?next=//evil.example").headers["Location"] == "/admin/"


@pytest.mark.parametrize("target, expected", [
    ("/admin/", "/admin/"), ("/admin/x?y=1#z", "/admin/x?y=1#z"), ("/", "/"),
    (None, None), ("", None), ("admin/", None), ("//a", None), ("/\\a", None), ("https://a/", None),
    ("/a\tb", None), ("/" + "a" * 3000, None),
])
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_login_starts_a_fresh_session(admin_client):
    with admin_client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = csrf_token(admin_client)
    login(admin_client)
    with admin_client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") is None, "the pre-login CSRF secret is gone"
    assert csrf_token(admin_client, "/admin/") != before


def test_logout_needs_the_csrf_token_and_ends_the_session(admin_client):
    login(admin_client)
    assert admin_client.post("/admin/logout").status_code == 400
    assert _logged_in_as(admin_client) == "admin", "a forged logout does nothing"
    resp = admin_client.post("/admin/logout", data={"csrf_token": csrf_token(admin_client, "/admin/")})
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/login"
    assert _logged_in_as(admin_client) is None


def test_a_new_password_ends_open_sessions(app, admin_client):
    login(admin_client)
    with app.app_context():
        accounts.set_password(accounts.get("admin"), "a brand new password")
    assert _logged_in_as(admin_client) is None
    assert login(admin_client, password="a brand new password").status_code == 302
    assert _logged_in_as(admin_client) == "admin"


def test_disabling_ends_open_sessions(app, admin_client):
    login(admin_client)
    with app.app_context():
        accounts.set_active(accounts.get("admin"), False)
    assert _logged_in_as(admin_client) is None


def test_the_session_cookie_is_httponly_and_lax(admin_client):
    resp = login(admin_client)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_password_hash_is_scrypt_and_not_the_password(app, make_admin):
    make_admin(app, "alice", token=False)
    with app.app_context():
        admin = db.session.execute(db.select(AdminUser).where(AdminUser.username == "alice")).scalar_one()
        assert admin.password_hash.startswith("scrypt:") and PASSWORD not in admin.password_hash
        assert admin.check_password(PASSWORD) and not admin.check_password(PASSWORD.upper())


def test_no_console_url_opens_to_a_stranger(app, client):
    """Is every console route, whatever its method and arguments, behind the sign-in (nothing found by guessing)?"""
    open_to_all = {"admin.login", "admin.login_submit", "admin.logout", "admin.static"}
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and r.endpoint not in open_to_all]
    assert len(rules) > 30, "the console's routes were not found: this test would prove nothing"
    for rule in rules:
        url = rule.build({name: 1 if type(rule._converters.get(name)).__name__ == "IntegerConverter" else "x1"
                          for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            if method == "GET":
                assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/login"), (method, url)
            else:  # refused before the view: no CSRF token, and no session
                assert resp.status_code in (302, 400, 401), (method, url, resp.status_code)
