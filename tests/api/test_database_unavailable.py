"""With the database unreachable: 503 database_unavailable where a request needs it, the chat still answers."""
import re

import pytest

from aichat import create_app
from aichat.extensions import db
from tests.api.openapi_check import assert_matches_openapi
from tests.conftest import _base_config
from tests.fakes import closed_port
from aichat.runtime import runtime_of


@pytest.fixture
def app_without_database():
    """An app whose PostgreSQL URL points at a port where nothing listens."""
    app = create_app({**_base_config(f"postgresql+psycopg://aichat@127.0.0.1:{closed_port()}/aichat"),
                      "AICHAT_ROLLUP_INTERVAL": 0, "AICHAT_DB_CONNECT_TIMEOUT": 2})
    yield app
    runtime_of(app).recorder.close(timeout=0.5)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/api/v1/ai-monitoring/summary?days=7", "/health/verify"])
def test_an_admin_token_cannot_be_checked_so_the_answer_is_503(app_without_database, path):
    """Does a request that must read the database get a JSON 503 with Retry-After, not a 500?"""
    resp = app_without_database.test_client().get(path, headers={"Authorization": "Bearer aic_some-admin-token"})
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.headers["Retry-After"] == "5"
    error = resp.get_json()["error"]
    assert error["code"] == "database_unavailable" and error["request_id"] == resp.headers["X-Request-ID"]
    assert "127.0.0.1" not in error["message"], "the answer names no host"
    if path.startswith("/api/"):
        assert_matches_openapi(app_without_database.test_client(), resp)


def test_the_console_says_503_in_plain_text(app_without_database):
    client = app_without_database.test_client()
    page = client.get("/admin/login").get_data(as_text=True)  # the form needs no database
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/admin/login", data={"username": "a", "password": "b", "csrf_token": token})
    assert resp.status_code == 503 and b"database" in resp.data


def test_liveness_and_the_chat_do_not_need_the_database(app_without_database):
    client = app_without_database.test_client()
    assert client.get("/health").status_code == 200
    answer = client.post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200 and answer.get_json()["provider"] == "demo"
