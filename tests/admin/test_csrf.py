"""CSRF is checked by default: every form POST needs the token, the JSON APIs need none."""
import pytest

from tests.admin.conftest import CONSOLE_PAGES, csrf_token, lock_admin, login
from tests.conftest import CLIENT_KEY

BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


@pytest.fixture
def app_with_a_new_form(make_app):
    """An app with one more console form, written without any CSRF code of its own."""
    app = make_app()

    @app.post("/admin/new-form")
    def new_form():
        return "saved"

    return app


@pytest.mark.parametrize("path", ["/admin/login", "/admin/logout", "/admin/new-form"])
def test_a_form_post_without_the_token_is_refused(app_with_a_new_form, make_admin, path):
    """Is a POST to an admin endpoint without a token (or with a forged one) refused, even when signed in?"""
    make_admin(app_with_a_new_form, token=False)
    client = app_with_a_new_form.test_client()
    assert login(client).status_code == 302
    for data in ({}, {"csrf_token": "forged"}):
        resp = client.post(path, data={**data, "username": "admin", "password": "x"})
        assert resp.status_code == 400, f"{path} accepted a form without a valid token"
    assert client.get("/admin/").status_code == 200, "still signed in: logout did not run"


def test_the_same_form_with_its_token_goes_through(app_with_a_new_form):
    client = app_with_a_new_form.test_client()
    resp = client.post("/admin/new-form", data={"csrf_token": csrf_token(client)})
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "saved"


def test_the_json_apis_take_no_csrf_token(make_app, make_admin):
    """With a console session cookie in the jar too, do the JSON APIs answer without any CSRF token?"""
    app = make_app()
    _, admin_token = make_admin(app)
    client = app.test_client()
    assert login(client).status_code == 302
    bearer = {"Authorization": f"Bearer {CLIENT_KEY}"}
    admin = {"Authorization": f"Bearer {admin_token}"}
    answers = {
        "ai-proxy": client.post("/api/v1/ai-proxy/chat", json=BODY),
        "ai-proxy stream": client.post("/api/v1/ai-proxy/chat", json={**BODY, "stream": True}),
        "/v1": client.post("/v1/chat/completions", json=BODY, headers=bearer),
        "monitoring": client.get("/api/v1/ai-monitoring/summary", headers=admin),
        "monitoring, session": client.get("/api/v1/ai-monitoring/summary"),
        "caller stats": client.get("/api/v1/ai-proxy/stats", headers=bearer),
        "openapi": client.get("/api/v1/openapi.json"),
        "health": client.get("/health"),
        "metrics": client.get("/metrics"),
    }
    for answer in answers.values():
        answer.get_data()
    assert {name: resp.status_code for name, resp in answers.items()} == {name: 200 for name in answers}


def test_every_form_on_every_console_page_carries_its_token(make_app, make_admin):
    """Does each POST form the console renders (sign-out, unlock …) include the CSRF token?"""
    from html.parser import HTMLParser

    class Forms(HTMLParser):
        def __init__(self):
            super().__init__()
            self.forms = []  # [method, has token]

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "form":
                self.forms.append([attrs.get("method", "get").lower(), False])
            elif tag == "input" and attrs.get("name") == "csrf_token" and attrs.get("value") and self.forms:
                self.forms[-1][1] = True

    app = make_app()
    make_admin(app, token=False)
    make_admin(app, "bob", token=False, role="admin")
    lock_admin(app, "bob")  # so the owner's page shows its unlock form
    client = app.test_client()
    posts = 0
    for path in ["/admin/login"]:
        parser = Forms()
        parser.feed(client.get(path).get_data(as_text=True))
        posts += sum(1 for method, _ in parser.forms if method == "post")
        assert all(token for method, token in parser.forms if method == "post"), path
    assert login(client).status_code == 302
    for path in CONSOLE_PAGES:
        parser = Forms()
        parser.feed(client.get(path).get_data(as_text=True))
        posts += sum(1 for method, _ in parser.forms if method == "post")
        assert all(token for method, token in parser.forms if method == "post"), path
    assert posts >= 5, "sign-in, three sign-out buttons and an unlock form"


def test_unlock_without_the_token_is_refused(make_app, make_admin):
    app = make_app()
    make_admin(app, token=False)
    make_admin(app, "bob", token=False, role="admin")
    lock_admin(app, "bob")
    client = app.test_client()
    assert login(client).status_code == 302
    assert client.post("/admin/admins/bob/unlock", data={}).status_code == 400
    with app.app_context():
        from aichat.admin import accounts
        assert accounts.get("bob").locked_until is not None
