"""CSRF is checked by default: every form POST needs the token, the JSON APIs need none."""
import pytest

from tests.admin.conftest import csrf_token, login
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
