"""`/v1` with the official openai SDK, pointed at aichat by base_url, over real HTTP."""
import hashlib
import json

import openai
import pytest
import requests

from tests.conftest import CLIENT_KEY, usage_rows


@pytest.fixture
def sdk(gateway_app, live_server):
    """(openai client for aichat, app); Gemini first in the failover order, as by default."""

    def build(key=CLIENT_KEY, **overrides):
        app = gateway_app(**overrides)
        base = live_server(app)
        return openai.OpenAI(api_key=key, base_url=base + "/v1", max_retries=0, timeout=10), app

    return build


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash"])
def test_non_streaming(sdk, model):
    client, app = sdk()
    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello sdk"}])
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Echo: hello sdk"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == model
    assert completion.usage.completion_tokens == 3
    rows = usage_rows(app, at_least=1)
    assert rows[-1]["endpoint"] == "v1" and rows[-1]["caller"] == "key:" + hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:10]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini-2.5-flash"])
def test_streaming_with_usage_chunk(sdk, model):
    client, _ = sdk()
    chunks = list(client.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "stream me"}]))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: stream me"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in chunks[:-1])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_streaming_without_usage_has_no_usage_chunk(sdk):
    client, _ = sdk()
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                 messages=[{"role": "user", "content": "x"}]))
    assert all(c.choices for c in chunks)


def test_developer_role_and_text_parts_are_accepted(sdk, fake_openai):
    client, _ = sdk()
    client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "developer", "content": "be terse"},
        {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}])
    sent = fake_openai.requests[-1].json["messages"]
    assert sent == [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi there"}]


def test_models_lists_what_routes(sdk):
    client, _ = sdk()
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids and "gemini-2.5-flash" in ids and "gemini-2.5-flash-latest" in ids


def test_wrong_key_is_authentication_error(sdk, fake_openai):
    client, _ = sdk(key="not-a-client-key")
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert not fake_openai.requests


def test_bad_parameter_is_bad_request_error(sdk):
    client, _ = sdk()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", temperature=3,
                                       messages=[{"role": "user", "content": "x"}])
    assert info.value.param == "temperature"


def test_unknown_model_is_not_found_error(sdk):
    client, _ = sdk()
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="llama-99", messages=[{"role": "user", "content": "x"}])
    assert "gpt-4o-mini" in info.value.message


def test_rate_limit_is_rate_limit_error(sdk):
    client, _ = sdk(AICHAT_RATE_LIMIT="2/minute")
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert int(info.value.response.headers["Retry-After"]) > 0


def test_all_upstreams_failing_is_internal_server_error(sdk, fake_openai, fake_gemini):
    client, _ = sdk()
    fake_openai.plan(status=500, times=2)
    fake_gemini.plan(status=500, times=2)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_upstream_bad_request_is_bad_request_error(sdk, fake_openai):
    client, _ = sdk()
    fake_openai.plan(error="context_length_exceeded")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_stream_broken_midway_ends_with_an_error_event(sdk, fake_openai):
    """Upstream cut mid-stream: the SDK raises the in-band error chunk `{"error": {...}}` we sent,
    not a connection error (a dropped connection would raise APIConnectionError)."""
    client, app = sdk()
    fake_openai.plan(text="a b c d e f", break_after=2)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                    messages=[{"role": "user", "content": "x"}]):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert type(info.value) is openai.APIError, f"not the error event: {info.value!r}"
    assert info.value.body["code"] == "upstream_unavailable" and info.value.body["type"] == "server_error"
    assert set(info.value.body) == {"message", "type", "param", "code"}
    assert "".join(received).split() == ["a", "b"]
    assert usage_rows(app, at_least=1)[-1]["status"] == "error"


def test_stream_broken_midway_sends_the_error_chunk_last_and_no_done(gateway_app, fake_openai, live_server):
    """The same over plain HTTP: the last frame is the error chunk, the body ends cleanly, no [DONE]."""
    base = live_server(gateway_app())
    fake_openai.plan(text="a b c d e f", break_after=2)
    resp = requests.post(base + "/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                         json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                         timeout=10)
    frames = [block.removeprefix("data: ") for block in resp.text.split("\n\n") if block]
    assert resp.status_code == 200 and resp.text.endswith("\n\n")
    assert "[DONE]" not in frames
    last = json.loads(frames[-1])
    assert set(last) == {"error"} and last["error"]["code"] == "upstream_unavailable"
    assert all(json.loads(f)["object"] == "chat.completion.chunk" for f in frames[:-1])
