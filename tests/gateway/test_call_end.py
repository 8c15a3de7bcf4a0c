"""The end-of-call hook: told once per call, after its last attempt, how the whole call ended."""
from __future__ import annotations

import pytest

from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"


class Told(list):
    """The outcomes told so far, and the app that told them."""

    app = None


@pytest.fixture
def told(gateway_app):
    """An app on both fakes whose gateway tells a list how each call ended."""
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai", "gemini"], AICHAT_CONFIG_POLL_INTERVAL=0)
    outcomes = Told()
    runtime_of(app).gateway.call_end_hooks.append(outcomes.append)
    outcomes.app = app
    return outcomes


def chat(app, **body):
    with app.test_client().post(URL, json={"messages": [{"role": "user", "content": "hello"}], **body}) as resp:
        return resp.status_code, resp.get_data(as_text=True)


def test_a_json_answer_after_a_failover_is_told_once_with_what_the_client_got(told, fake_openai):
    fake_openai.plan(error="server_error", times=2)  # both OpenAI keys fail; Gemini answers
    status, _ = chat(told.app, model="gpt-4o-mini", suggestions=True)
    assert status == 200
    (outcome,) = told
    assert (outcome.status, outcome.upstream) == ("success", "gemini")
    assert outcome.content and "<<<SUGGESTIONS>>>" not in outcome.content
    assert outcome.usage.total_tokens > 0 and outcome.ctx.endpoint == "ai-proxy"


def test_a_stream_is_told_when_it_closes_with_the_text_delivered(told):
    status, body = chat(told.app, stream=True, suggestions=True)
    assert status == 200 and "event: done" in body
    (outcome,) = told
    assert outcome.status == "success" and outcome.content
    assert "<<<SUGGESTIONS>>>" not in outcome.content


def test_a_call_every_upstream_refused_is_told_once_as_an_error(told, fake_openai, fake_gemini):
    fake_openai.plan(error="server_error", times=2)
    fake_gemini.plan(error="server_error", times=2)
    status, _ = chat(told.app, model="gpt-4o-mini")
    assert status == 502
    (outcome,) = told
    assert outcome.status == "error" and outcome.content is None and outcome.error.code == "upstream_server_error"


def test_a_bad_request_upstream_rejects_is_told_once_without_failover(told, fake_openai):
    fake_openai.plan(error="context_length_exceeded")
    status, _ = chat(told.app, model="gpt-4o-mini")
    assert status == 400
    (outcome,) = told
    assert (outcome.status, outcome.upstream) == ("error", "openai")
