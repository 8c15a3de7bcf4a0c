"""X-Request-ID: the caller's when it is sane, a new one otherwise, on every kind of answer."""
import re

import pytest

from tests.conftest import CLIENT_KEY

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
GENERATED = re.compile(r"^[0-9a-f]{32}$")


def call(client, method, path, request_id=None, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    with client.open(path, method=method, headers=headers, **kwargs) as resp:
        resp.get_data()
        return resp


CASES = {
    "json chat": ("POST", URL, {"json": BODY}, 200),
    "stream": ("POST", URL, {"json": {**BODY, "stream": True}}, 200),
    "openai stream": ("POST", "/v1/chat/completions", {"json": {**BODY, "stream": True},
                                                       "headers": {"Authorization": f"Bearer {CLIENT_KEY}"}}, 200),
    "404 api": ("GET", "/api/v1/nothing", {}, 404),
    "404 page": ("GET", "/nothing", {}, 404),
    "405": ("GET", URL, {}, 405),
    "400": ("POST", URL, {"json": {"messages": []}}, 400),
    "401": ("GET", "/v1/models", {}, 401),
    "health": ("GET", "/health", {}, 200),
    "metrics": ("GET", "/metrics", {}, 200),
}


@pytest.mark.parametrize("case", CASES)
def test_a_sane_request_id_is_taken_and_returned(app, case):
    method, path, kwargs, status = CASES[case]
    resp = call(app.test_client(), method, path, "lb-abc.123:x", **kwargs)
    assert resp.status_code == status
    assert resp.headers["X-Request-ID"] == "lb-abc.123:x"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 65, "semi;colon", "ünïcode"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_one(app, case, sent):
    method, path, kwargs, status = CASES[case]
    client = app.test_client()
    first = call(client, method, path, sent, **kwargs)
    second = call(client, method, path, sent, **kwargs)
    assert first.status_code == status
    assert GENERATED.match(first.headers["X-Request-ID"]) and GENERATED.match(second.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_rate_limited_answer_carries_the_request_id(make_app):
    client = make_app(AICHAT_RATE_LIMIT="1/minute").test_client()
    assert call(client, "POST", URL, "first-1", json=BODY).status_code == 200
    limited = call(client, "POST", URL, "second-2", json=BODY)
    assert limited.status_code == 429
    assert limited.headers["X-Request-ID"] == "second-2" == limited.json["error"]["request_id"]


def test_a_stream_that_fails_upstream_carries_the_request_id(gateway_app, fake_gemini, fake_openai):
    client = gateway_app(AICHAT_MAX_ATTEMPTS=1).test_client()
    fake_gemini.plan(status=500)
    resp = call(client, "POST", URL, "fails-1", json={**BODY, "stream": True})
    assert resp.status_code == 502 and resp.headers["X-Request-ID"] == "fails-1"


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/v1/models", "/admin/login"])
def test_a_429_from_a_default_limit_carries_the_request_id(make_app, path):
    """Default limits are checked before any view (in Flask-Limiter's own before_request): is the id set first?"""
    client = make_app(RATELIMIT_DEFAULT="1/minute").test_client()
    call(client, "GET", path, "first-1", headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    limited = call(client, "GET", path, "second-2", headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert limited.status_code == 429
    assert limited.headers["X-Request-ID"] == "second-2"
    fresh = call(client, "GET", path, headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert fresh.status_code == 429 and GENERATED.match(fresh.headers["X-Request-ID"])
    if path.startswith("/api/"):
        assert limited.json["error"]["request_id"] == "second-2"


def test_a_form_refused_for_its_csrf_token_carries_the_request_id(app):
    """CSRF is checked before any view too."""
    resp = call(app.test_client(), "POST", "/admin/login", "csrf-1", data={"username": "a", "password": "b"})
    assert resp.status_code == 400 and resp.headers["X-Request-ID"] == "csrf-1"
