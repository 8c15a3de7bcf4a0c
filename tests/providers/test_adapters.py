"""Both adapters, through the real SDKs, against the fake upstreams: answers, usage, the error taxonomy."""
import pytest

from aichat.providers.base import (
    ChatRequest,
    KeyInvalid,
    Message,
    RequestInvalid,
    Timeouts,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from aichat.providers.gemini import GeminiProvider
from aichat.providers.openai import OpenAIProvider
from tests.conftest import GEMINI_KEYS, OPENAI_KEYS
from tests.fakes import closed_port

TIMEOUTS = Timeouts(connect=1.0, first_token=1.0, total=1.0)
REQ = ChatRequest([Message("system", "Be brief."), Message("user", "hello there")], max_tokens=50)


@pytest.fixture(params=["openai", "gemini"])
def upstream(request, fake_openai, fake_gemini):
    """(adapter, client, fake, model) for each provider."""
    if request.param == "openai":
        adapter = OpenAIProvider(fake_openai.base_url, TIMEOUTS)
        return adapter, adapter.make_client(OPENAI_KEYS[0]), fake_openai, "gpt-4o-mini"
    adapter = GeminiProvider(fake_gemini.base_url, TIMEOUTS)
    return adapter, adapter.make_client(GEMINI_KEYS[0]), fake_gemini, "gemini-2.5-flash"


def test_complete_returns_text_usage_and_finish_reason(upstream):
    adapter, client, fake, model = upstream
    result = adapter.complete(client, REQ, model)
    assert result.content == "Echo: hello there"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 3
    assert result.usage.source == "provider"


def test_stream_yields_deltas_then_usage(upstream):
    adapter, client, fake, model = upstream
    deltas = list(adapter.stream(client, REQ, model))
    assert "".join(d.content for d in deltas) == "Echo: hello there"
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 3
    assert any(d.finish_reason == "stop" for d in deltas)


def test_system_messages_reach_the_upstream(upstream):
    adapter, client, fake, model = upstream
    adapter.complete(client, REQ, model)
    body = fake.requests[-1].json
    assert "Be brief." in str(body)


@pytest.mark.parametrize("plan, expected", [
    (dict(status=401), KeyInvalid),
    (dict(status=403), KeyInvalid),
    (dict(status=429), UpstreamRateLimited),
    (dict(status=500), UpstreamServerError),
    (dict(status=503), UpstreamServerError),
    (dict(status=400), RequestInvalid),
    (dict(delay=1.5), UpstreamTimeout),
])
def test_errors_map_onto_the_taxonomy(upstream, plan, expected):
    adapter, client, fake, model = upstream
    fake.plan(**plan)
    with pytest.raises(expected) as info:
        adapter.complete(client, REQ.__class__(REQ.messages), model)
    assert OPENAI_KEYS[0] not in info.value.message and GEMINI_KEYS[0] not in info.value.message


def test_out_of_credit_benches_the_key(fake_openai):
    adapter = OpenAIProvider(fake_openai.base_url, TIMEOUTS)
    fake_openai.plan(error="insufficient_quota")
    with pytest.raises(KeyInvalid):
        adapter.complete(adapter.make_client(OPENAI_KEYS[0]), REQ, "gpt-4o-mini")


def test_gemini_invalid_key_is_key_invalid(fake_gemini):
    adapter = GeminiProvider(fake_gemini.base_url, TIMEOUTS)
    with pytest.raises(KeyInvalid):
        adapter.complete(adapter.make_client("AIzaNotAValidKey0000000"), REQ, "gemini-2.5-flash")


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_refused_connection_is_unavailable(kind):
    url = f"http://127.0.0.1:{closed_port()}"
    adapter = OpenAIProvider(url + "/v1", TIMEOUTS) if kind == "openai" else GeminiProvider(url, TIMEOUTS)
    with pytest.raises(UpstreamUnavailable):
        adapter.complete(adapter.make_client("k"), REQ, "gpt-4o-mini" if kind == "openai" else "gemini-2.5-flash")


def test_stream_broken_mid_way_raises_unavailable(upstream):
    adapter, client, fake, model = upstream
    fake.plan(text="one two three four five six", break_after=2)
    received = []
    with pytest.raises(UpstreamUnavailable):
        for delta in adapter.stream(client, REQ, model):
            received.append(delta.content)
    assert "".join(received).split() == ["one", "two"]


def test_openai_usage_on_a_chunk_with_choices_is_kept(fake_openai):
    adapter = OpenAIProvider(fake_openai.base_url, TIMEOUTS)
    fake_openai.plan(usage_on_choice_chunk=True, reasoning_tokens=2, cached_tokens=1)
    deltas = list(adapter.stream(adapter.make_client(OPENAI_KEYS[0]), REQ, "gpt-4o-mini"))
    usage = [d.usage for d in deltas if d.usage]
    assert len(usage) == 1 and usage[0].reasoning_tokens == 2 and usage[0].cached_tokens == 1


def test_gemini_thoughts_count_as_completion_tokens(fake_gemini):
    adapter = GeminiProvider(fake_gemini.base_url, TIMEOUTS)
    fake_gemini.plan(thoughts_tokens=7)
    result = adapter.complete(adapter.make_client(GEMINI_KEYS[0]), REQ, "gemini-2.5-flash")
    assert result.usage.reasoning_tokens == 7
    assert result.usage.completion_tokens == 3 + 7


def test_streams_read_to_the_end_reuse_the_upstream_connection(upstream):
    """A stream ended by upstream hands its connection back to the pool: the next call needs no new TCP (and, to a
    real upstream, TLS) handshake before its first token."""
    adapter, client, fake, model = upstream
    connections = fake.total_connections
    for _ in range(3):
        assert "".join(d.content for d in adapter.stream(client, REQ, model)) == "Echo: hello there"
    adapter.complete(client, REQ, model)
    assert fake.total_connections - connections <= 1


def test_closing_a_stream_closes_the_upstream_connection(upstream):
    adapter, client, fake, model = upstream
    fake.plan(text=" ".join(["word"] * 50), chunk_interval=0.05)
    deltas = adapter.stream(client, REQ, model)
    next(deltas)
    next(deltas)
    deltas.close()
    assert fake.wait_for_disconnect(timeout=3), "upstream kept streaming to nobody"


def test_sdk_retries_are_off(upstream):
    adapter, client, fake, model = upstream
    fake.plan(status=500)
    with pytest.raises(UpstreamServerError):
        adapter.complete(client, REQ, model)
    assert len(fake.requests) == 1
