"""The JSON log lines: one per request with its fields, application lines with the request id, no secrets."""
import json
import logging

import pytest

from aichat.telemetry.logs import _StderrHandler
from tests.conftest import ALL_SECRETS, CLIENT_KEY, GEMINI_KEYS, OPENAI_KEYS

URL = "/api/v1/ai-proxy/chat"
MARKER = "secret-marker-7f3a9c"
BODY = {"messages": [{"role": "user", "content": f"tell me about {MARKER}"}], "suggestions": False}
FIELDS = {"time", "level", "logger", "request_id", "method", "path", "endpoint", "status", "latency_ms",
          "provider", "model", "stream", "caller", "remote_addr"}


def lines(capsys) -> list[dict]:
    """Every JSON line written to stderr so far (each must parse)."""
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def access_lines(capsys) -> list[dict]:
    return [line for line in lines(capsys) if line["logger"] == "aichat.access"]


def call(client, method, path, **kwargs):
    with client.open(path, method=method, **kwargs) as resp:
        resp.get_data()
        return resp


def test_a_json_chat_logs_one_line_with_its_fields(gateway_app, capsys):
    client = gateway_app().test_client()
    capsys.readouterr()
    resp = call(client, "POST", URL + "?debug=1", json={**BODY, "model": "gpt-4o-mini"},
                headers={"X-Request-ID": "req-json-1"})
    assert resp.status_code == 200
    (line,) = access_lines(capsys)
    assert set(line) == FIELDS
    assert line["level"] == "info" and line["time"].endswith("Z")
    assert line["request_id"] == "req-json-1" and line["method"] == "POST"
    assert line["path"] == URL, "no query string"
    assert line["endpoint"] == "proxy.chat" and line["status"] == 200 and line["stream"] is False
    assert line["provider"] == "openai" and line["model"] == "gpt-4o-mini"
    assert line["caller"] is None and line["remote_addr"] == "127.0.0.0/24", "truncated by default"
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0


def test_a_streams_line_is_written_when_it_ends_and_times_the_whole_stream(gateway_app, fake_openai, capsys):
    """The fake waits 0.1 s between its 5 pieces: the line comes at the end, and its latency covers them."""
    client = gateway_app().test_client()
    fake_openai.plan(text="one two three four five", chunk_interval=0.1)
    capsys.readouterr()
    resp = client.post("/v1/chat/completions", json={**BODY, "model": "gpt-4o-mini", "stream": True},
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 200
    assert access_lines(capsys) == [], "nothing is logged before the stream has been sent"
    assert "[DONE]" in resp.get_data(as_text=True)
    resp.close()
    (line,) = access_lines(capsys)
    assert line["endpoint"] == "openai.chat_completions" and line["stream"] is True and line["status"] == 200
    assert line["provider"] == "openai" and line["model"] == "gpt-4o-mini"
    assert line["caller"] and CLIENT_KEY not in line["caller"], "the client key's label, never the key"
    assert line["latency_ms"] >= 400


def test_errors_are_logged_with_their_status(gateway_app, fake_gemini, fake_openai, capsys):
    client = gateway_app(AICHAT_MAX_ATTEMPTS=1).test_client()
    fake_gemini.plan(status=500)
    capsys.readouterr()
    assert call(client, "POST", URL, json=BODY).status_code == 502
    assert call(client, "POST", URL, json={"messages": []}).status_code == 400
    assert call(client, "GET", "/no/such/page").status_code == 404
    failed, invalid, missing = access_lines(capsys)
    assert (failed["status"], failed["endpoint"], failed["provider"]) == (502, "proxy.chat", None)
    assert (invalid["status"], invalid["endpoint"]) == (400, "proxy.chat")
    assert (missing["status"], missing["endpoint"], missing["path"]) == (404, "unmatched", "/no/such/page")


def test_no_key_token_or_message_in_any_line(gateway_app, fake_gemini, make_admin, capsys):
    """A unique marker in the message, keys in headers, an admin token, a failing key: none of it is logged."""
    app = gateway_app()
    _, admin_token = make_admin(app)
    client = app.test_client()
    fake_gemini.plan(key=GEMINI_KEYS[0], status=401)
    capsys.readouterr()
    call(client, "POST", URL, json=BODY, headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    call(client, "POST", URL, json={**BODY, "stream": True})
    call(client, "POST", "/v1/chat/completions", json={**BODY, "model": "gpt-4o-mini"},
         headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    call(client, "POST", "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {OPENAI_KEYS[0]}"})
    call(client, "GET", "/api/v1/ai-monitoring/summary", headers={"Authorization": f"Bearer {admin_token}"})
    out = capsys.readouterr()
    text = out.err + out.out
    assert text.count('"logger":"aichat.access"') == 5
    for secret in ALL_SECRETS + [admin_token, MARKER, "Authorization"]:
        assert secret not in text
    assert '"caller":"admin:admin"' in text


def test_health_and_metrics_are_left_out_unless_asked(make_app, capsys):
    quiet = make_app().test_client()
    capsys.readouterr()
    for path in ("/health", "/metrics"):
        assert call(quiet, "GET", path).status_code == 200
    assert access_lines(capsys) == []
    loud = make_app(AICHAT_ACCESS_LOG_HEALTH=True).test_client()
    for path in ("/health", "/metrics"):
        call(loud, "GET", path)
    assert [line["endpoint"] for line in access_lines(capsys)] == ["health.live", "metrics.scrape"]


def test_the_access_log_can_be_switched_off(make_app, capsys):
    client = make_app(AICHAT_ACCESS_LOG=False).test_client()
    capsys.readouterr()
    assert call(client, "POST", URL, json=BODY).status_code == 200
    assert access_lines(capsys) == []


def test_an_application_error_is_a_json_line_with_the_request_id(make_app, capsys):
    """An unhandled exception: a 500 JSON answer, and a JSON error line with the traceback and the request id."""
    app = make_app()

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("kaboom")

    capsys.readouterr()
    resp = call(app.test_client(), "GET", "/api/v1/boom", headers={"X-Request-ID": "boom-1"})
    assert resp.status_code == 500 and resp.headers["X-Request-ID"] == "boom-1"
    error, access = lines(capsys)
    assert error["level"] == "error" and error["logger"] == "aichat.api.errors"
    assert error["request_id"] == "boom-1" and "RuntimeError: kaboom" in error["exc"]
    assert access["status"] == 500 and access["request_id"] == "boom-1"


def test_setting_up_logging_for_many_apps_keeps_one_handler(make_app, capsys):
    for _ in range(3):
        make_app()
    handlers = [h for h in logging.getLogger("aichat").handlers if isinstance(h, _StderrHandler)]
    assert len(handlers) == 1
    capsys.readouterr()
    logging.getLogger("aichat.test").warning("once")
    assert [line["message"] for line in lines(capsys)] == ["once"]


def test_a_bad_log_level_stops_the_start(make_app):
    with pytest.raises(ValueError, match="AICHAT_LOG_LEVEL"):
        make_app(AICHAT_LOG_LEVEL="chatty")


def test_a_console_page_s_line_names_its_signed_in_admin(app, make_admin, capsys):
    """Does a request on a console session say whose it was, as an API token's does?"""
    from tests.admin.conftest import login

    make_admin(app, "ops-lead", token=False)
    client = app.test_client()
    assert login(client, "ops-lead").status_code == 302
    capsys.readouterr()
    call(client, "GET", "/admin/audit")
    call(app.test_client(), "GET", "/admin/audit")  # no session: nobody to name
    pages = [line for line in access_lines(capsys) if line["path"] == "/admin/audit"]
    assert [line["caller"] for line in pages] == ["admin:ops-lead", None]
