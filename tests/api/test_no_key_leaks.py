"""Upstreams that echo the key they were sent: does any key reach a response, a log line or a row?

The fakes here quote the presented key in full in every error message and send it back in a
response header on every answer. The keys are opaque (not shaped like `sk-…` or `AIza…`), so only
the adapters' redaction of the key they used can keep them out; the shape patterns cannot.
"""
import json
import logging

import openai
import pytest
import requests
from sqlalchemy import select

from aichat.extensions import db
from tests.conftest import CLIENT_KEY, usage_rows
from tests.fakes import FakeGemini, FakeOpenAI
from tests.fakes.behaviour import ECHO_HEADER

OPENAI_KEYS = ["3f9c2e71d04b4a8e9b6d5c1a7e2f8d90", "8a1d6c3e5f7b4092a6e4c8d2b1f3e5a7"]
GEMINI_KEYS = ["g3m-opaque-5b2e9d1c7a4f4e08", "g3m-opaque-c6a1f8e2d9b34b57"]
REVOKED = ["0d7e4c9a2b6f41e3a8c5d1b7e9f2a4c6", "g3m-opaque-revoked-7f3a2c9e41"]  # upstream refuses these
UPSTREAM_KEYS = OPENAI_KEYS + GEMINI_KEYS + REVOKED
URL = "/api/v1/ai-proxy/chat"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def echoing():
    """(OpenAI fake, Gemini fake), both echoing keys, each knowing its two good keys."""
    with FakeOpenAI(valid_keys=set(OPENAI_KEYS), echo_key=True) as oai, \
            FakeGemini(valid_keys=set(GEMINI_KEYS), echo_key=True) as gem:
        yield oai, gem


class Tap:
    """WSGI middleware writing down every response as it leaves: status, headers and body."""

    def __init__(self, app):
        self.app = app
        self.seen: list[str] = []

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            self.seen.append(f"{status} {headers}")
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        try:
            for chunk in body:
                self.seen.append(chunk.decode(errors="replace"))
                yield chunk
        finally:
            if hasattr(body, "close"):
                body.close()


def every_row(app) -> list[str]:
    """Every row of every table, every column, as text."""
    with app.app_context():
        return [json.dumps(dict(row._mapping), default=str)
                for table in db.metadata.sorted_tables
                for row in db.session.execute(select(table))]


def test_no_upstream_key_in_any_response_log_line_or_row(make_app, live_server, echoing, capsys, caplog):
    """JSON and streams, both surfaces, through the real SDK: failovers past revoked keys, errors
    passed on to the caller, errors in the middle of a stream, everything failing."""
    oai, gem = echoing
    oai.reset(), gem.reset()
    # Every logger at INFO, aichat's at DEBUG. Not the HTTP libraries' DEBUG: httpcore's trace prints raw
    # response headers (the echoed key among them), and nothing in a deployment turns it on.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="aichat")
    app = make_app(OPENAI_API_KEY=[REVOKED[0]] + OPENAI_KEYS, OPENAI_BASE_URL=oai.base_url,
                   GEMINI_API_KEY=[REVOKED[1]] + GEMINI_KEYS, GEMINI_BASE_URL=gem.base_url,
                   AICHAT_LOG_LEVEL="DEBUG", AICHAT_CIRCUIT_FAILURES=100, AICHAT_MAX_ATTEMPTS=6)
    tap = Tap(app)
    base = live_server(tap)
    sdk = openai.OpenAI(api_key=CLIENT_KEY, base_url=base + "/v1", max_retries=0, timeout=10)
    raised: list[str] = []

    def v1(model, stream=False):
        try:
            answer = sdk.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
            return "".join(c.choices[0].delta.content or "" for c in answer if c.choices) if stream else answer
        except openai.APIError as exc:
            raised.append(f"{type(exc).__name__}: {exc} {exc.body}")
            return None

    def proxy(model, stream=False):
        return requests.post(base + URL, json={"messages": MESSAGES, "model": model, "stream": stream,
                                               "suggestions": False}, timeout=10).text

    # Every key in turn, so each revoked key is met and each good key answers, JSON and stream.
    for model in ("gpt-4o-mini", "gemini-2.5-flash"):
        for _ in range(3):
            assert v1(model) is not None and v1(model, stream=True) is not None
            assert "error" not in proxy(model) and "event: error" not in proxy(model, stream=True)
    # Errors passed on to the caller: a rejected request, everything failing, a stream failing mid-way.
    for fake in (oai, gem):
        model = "gpt-4o-mini" if fake is oai else "gemini-2.5-flash"
        fake.plan(status=400)
        assert v1(model) is None
        fake.plan(status=400)
        assert '"upstream_request_invalid"' in proxy(model, stream=True)
        oai.plan(status=500, times=2), gem.plan(status=500, times=2)  # two good keys each
        assert v1(model, stream=True) is None
        oai.plan(status=503, times=2), gem.plan(status=503, times=2)
        assert '"upstream_server_error"' in proxy(model)
        fake.plan(error_after=1)
        assert v1(model, stream=True) is None
        fake.plan(error_after=1)
        assert "event: error" in proxy(model, stream=True)
    assert oai.pending_plans == gem.pending_plans == 0

    # The case was met: each revoked key was refused, and every key was sent (each answer echoed it).
    assert {r.key for r in oai.requests + gem.requests if r.status in (400, 401)} >= set(REVOKED)
    assert {r.key for r in oai.requests + gem.requests} == set(UPSTREAM_KEYS)
    rows = usage_rows(app, at_least=1)
    assert any(row["error_code"] == "upstream_key_invalid" for row in rows)
    out = capsys.readouterr()
    with app.test_client() as client:
        metrics = client.get("/metrics").get_data(as_text=True)
    sources = {"responses": "\n".join(tap.seen), "SDK exceptions": "\n".join(raised), "stdout": out.out,
               "stderr (JSON logs)": out.err, "log records": caplog.text, "metrics": metrics,
               "database rows": "\n".join(every_row(app))}
    leaks = {f"{key[:4]}…{key[-4:]}": [name for name, text in sources.items() if key in text] for key in UPSTREAM_KEYS}
    assert not any(leaks.values()), f"upstream keys leaked: {leaks}"
    assert ECHO_HEADER not in sources["responses"].lower(), "upstream's headers are not passed on"
    assert "[redacted]" in sources["responses"], "upstream messages reached the caller, redacted"
    assert '"logger":"aichat.access"' in out.err, "the access log was captured"
