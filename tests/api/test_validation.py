"""Bad input gets a clear JSON error and a 4xx, never a 500, and nothing is sent upstream."""
import pytest

from tests.conftest import CLIENT_KEY

URL = "/api/v1/ai-proxy/chat"
OK = [{"role": "user", "content": "hi"}]


@pytest.fixture
def wired(gateway_app, fake_gemini, fake_openai):
    app = gateway_app(AICHAT_MAX_TOKENS_LIMIT=4000, AICHAT_MAX_BODY_BYTES=20_000)
    yield app
    assert not fake_gemini.requests and not fake_openai.requests, "a rejected request went upstream"


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "missing_messages"),
    ({"messages": []}, 400, "invalid_messages"),
    ({"messages": "hi"}, 400, "invalid_messages"),
    ({"messages": [{"role": "bot", "content": "x"}]}, 400, "invalid_role"),
    ({"messages": [{"content": "x"}]}, 400, "invalid_role"),
    ({"messages": ["hi"]}, 400, "invalid_message"),
    ({"messages": [{"role": "user", "content": 5}]}, 400, "invalid_content"),
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, 400, "invalid_messages"),
    ({"messages": OK, "temperature": 2.5}, 400, "invalid_temperature"),
    ({"messages": OK, "temperature": -0.1}, 400, "invalid_temperature"),
    ({"messages": OK, "temperature": "hot"}, 400, "invalid_temperature"),
    ({"messages": OK, "temperature": True}, 400, "invalid_temperature"),
    ({"messages": OK, "max_tokens": 0}, 400, "invalid_max_tokens"),
    ({"messages": OK, "max_tokens": -5}, 400, "invalid_max_tokens"),
    ({"messages": OK, "max_tokens": 4001}, 400, "invalid_max_tokens"),
    ({"messages": OK, "max_tokens": 1.5}, 400, "invalid_max_tokens"),
    ({"messages": OK, "stream": "yes"}, 400, "invalid_stream"),
    ({"messages": OK, "suggestions": 1}, 400, "invalid_suggestions"),
    ({"messages": OK, "model": 42}, 400, "invalid_model"),
    ({"messages": OK, "model": ""}, 400, "invalid_model"),
    ({"messages": OK, "model": "llama-3-70b"}, 404, "model_not_found"),
    ({"messages": [{"role": "user", "content": "x" * 30_000}]}, 413, "request_too_large"),
])
def test_bad_bodies(wired, body, status, code):
    resp = wired.test_client().post(URL, json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.json["error"]
    assert error["code"] == code
    assert error["message"] and error["request_id"] == resp.headers["X-Request-ID"]


def test_unknown_model_message_lists_the_known_ones(wired):
    resp = wired.test_client().post(URL, json={"messages": OK, "model": "llama-3-70b"})
    assert "gemini-2.5-flash" in resp.json["error"]["message"]
    assert "gpt-4o-mini" in resp.json["error"]["message"]


@pytest.mark.parametrize("data, content_type, status, code", [
    ("{not json", "application/json", 400, "invalid_json"),
    ("[1, 2]", "application/json", 400, "invalid_json"),
    ('{"messages": []}', "text/plain", 415, "unsupported_media_type"),
    ("messages=hi", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("", "application/json", 400, "invalid_json"),
])
def test_malformed_requests(wired, data, content_type, status, code):
    resp = wired.test_client().post(URL, data=data, content_type=content_type)
    assert resp.status_code == status
    assert resp.json["error"]["code"] == code


def test_wrong_method_and_unknown_paths_are_json(wired):
    client = wired.test_client()
    resp = client.get(URL)
    assert resp.status_code == 405 and resp.json["error"]["code"] == "method_not_allowed"
    for path in ("/api/v1/nothing", "/v1/nothing", "/api"):
        resp = client.get(path)
        assert resp.status_code == 404 and "error" in resp.json


@pytest.mark.parametrize("body, param", [
    ({"messages": OK, "tools": [{"type": "function"}]}, "tools"),
    ({"messages": OK, "n": 2}, "n"),
    ({"messages": OK, "top_p": 3}, "top_p"),
    ({"messages": OK, "stop": [1]}, "stop"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": OK, "temperature": 9}, "temperature"),
    ({"messages": OK, "n": True}, "n"),
    ({"messages": OK, "max_tokens": 5, "max_completion_tokens": "many"}, "max_completion_tokens"),
    ({"messages": OK, "max_completion_tokens": 4001}, "max_completion_tokens"),
    ({"messages": OK, "seed": 1.5}, "seed"),
])
def test_v1_bad_bodies_name_the_parameter(wired, body, param):
    resp = wired.test_client().post("/v1/chat/completions", json=body,
                                    headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 400
    assert resp.json["error"]["param"] == param
    assert resp.json["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("extra", [{"max_tokens": 20.0}, {"max_completion_tokens": 20.0}, {"seed": 7.0},
                                   {"n": None}, {"n": 1.0}, {"tools": []}, {"stop": None},
                                   {"site_domain": "Shop.Example.com"}])
def test_v1_takes_what_json_and_its_schema_call_valid(gateway_app, extra):
    """2.0 is a JSON integer, null an absent field, an empty `tools` no tool: as the OpenAPI document says."""
    app = gateway_app()
    resp = app.test_client().post("/v1/chat/completions", json={"messages": OK, "model": "gpt-4o-mini", **extra},
                                  headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
