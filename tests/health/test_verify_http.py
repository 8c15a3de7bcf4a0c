"""`GET /health/verify`: admins only, the same JSON as `flask verify --json`, 200 even when a check fails."""
import json

import pytest

from tests.admin.conftest import login
from tests.conftest import usage_rows
from tests.health.test_verify import STRONG_KEY


@pytest.fixture
def app(gateway_app):
    return gateway_app(SECRET_KEY=STRONG_KEY, AICHAT_ENV="development")


@pytest.mark.parametrize("headers, code", [({}, "authentication_required"),
                                           ({"Authorization": "Bearer aic_not-a-token"}, "invalid_token")])
def test_without_an_admin_it_is_401_json(app, headers, code):
    resp = app.test_client().get("/health/verify", headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == code


def test_an_admin_token_gets_the_report(app, make_admin):
    _, token = make_admin(app)
    resp = app.test_client().get("/health/verify", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json
    assert list(body) == ["ok", "status", "version", "checks"]
    assert body["ok"] is True and body["status"] in ("ok", "warn")
    cli = app.test_cli_runner().invoke(args=["verify", "--json"])
    assert [c["name"] for c in body["checks"]] == [c["name"] for c in json.loads(cli.output)["checks"]]
    assert all(list(c) == ["name", "status", "reason", "ms"] for c in body["checks"])
    assert token not in resp.get_data(as_text=True)


def test_a_console_session_gets_the_report(app, make_admin):
    make_admin(app, token=False)
    client = app.test_client()
    assert login(client).status_code == 302
    resp = client.get("/health/verify")
    assert resp.status_code == 200 and resp.json["version"]


def test_a_failing_check_still_answers_200_and_the_body_says_so(gateway_app, make_admin):
    app = gateway_app(SECRET_KEY="short", AICHAT_ENV="production")
    _, token = make_admin(app)
    resp = app.test_client().get("/health/verify", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.json["ok"] is False and resp.json["status"] == "fail"
    assert {c["name"]: c["status"] for c in resp.json["checks"]}["secret_key"] == "fail"


def test_live_1_calls_the_providers(app, make_admin, fake_openai, fake_gemini):
    _, token = make_admin(app)
    client = app.test_client()
    plain = client.get("/health/verify", headers={"Authorization": f"Bearer {token}"}).json
    assert "live call" not in str(plain) and fake_openai.requests == []
    live = client.get("/health/verify?live=1", headers={"Authorization": f"Bearer {token}"}).json
    found = {c["name"]: c for c in live["checks"]}
    assert "live call answered in" in found["provider:openai"]["reason"]
    assert "live call answered in" in found["provider:gemini"]["reason"]
    assert sorted(r["provider"] for r in usage_rows(app, at_least=2) if r["endpoint"] == "verify") == [
        "gemini", "openai"]
