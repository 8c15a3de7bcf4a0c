"""The upstream pool split in shards: streams spread over them, and every slot comes back however a call ends."""
import pytest

from aichat.providers import transport
from aichat.providers.base import UpstreamServerError
from aichat.providers.gemini import GeminiProvider
from aichat.providers.openai import OpenAIProvider
from tests.conftest import GEMINI_KEYS, OPENAI_KEYS
from tests.providers.test_adapters import REQ, TIMEOUTS


@pytest.fixture(params=["openai", "gemini"])
def upstream(request, fake_openai, fake_gemini):
    """(adapter, client, fake, model, the adapter's sharded transport) for each provider."""
    if request.param == "openai":
        adapter = OpenAIProvider(fake_openai.base_url, TIMEOUTS)
        client, fake, model = adapter.make_client(OPENAI_KEYS[0]), fake_openai, "gpt-4o-mini"
    else:
        adapter = GeminiProvider(fake_gemini.base_url, TIMEOUTS)
        client, fake, model = adapter.make_client(GEMINI_KEYS[0]), fake_gemini, "gemini-2.5-flash"
    return adapter, client, fake, model, adapter._http._transport


def test_streams_in_flight_spread_over_the_shards(upstream):
    """Do 40 open streams take every shard evenly, and does closing them give every slot back?"""
    adapter, client, fake, model, pool = upstream
    assert isinstance(pool, transport.ShardedTransport) and len(pool.shards) == transport.SHARDS
    fake.plan(text=" ".join(["word"] * 20), chunk_interval=0.05, times=40)
    streams = [adapter.stream(client, REQ, model) for _ in range(40)]
    for stream in streams:
        next(stream)
    assert sum(pool.in_flight) == 40 and max(pool.in_flight) - min(pool.in_flight) <= 1
    for stream in streams:
        stream.close()
    assert pool.in_flight == [0] * transport.SHARDS


def test_a_quiet_gateway_reuses_the_first_shard(upstream):
    """One call at a time always goes to the first shard, so its kept-alive connection is reused."""
    adapter, client, fake, model, pool = upstream
    for _ in range(3):
        adapter.complete(client, REQ, model)
    assert len(pool.shards[0]._pool.connections) == 1
    assert all(not shard._pool.connections for shard in pool.shards[1:])
    assert pool.in_flight == [0] * transport.SHARDS


def test_failed_calls_give_their_slot_back(upstream):
    """An error answer, and a stream broken mid-way, leave nothing counted in flight."""
    adapter, client, fake, model, pool = upstream
    fake.plan(status=500)
    with pytest.raises(UpstreamServerError):
        adapter.complete(client, REQ, model)
    fake.plan(text="one two three four", break_after=1)
    with pytest.raises(Exception):
        list(adapter.stream(client, REQ, model))
    assert pool.in_flight == [0] * transport.SHARDS


def test_the_shards_share_one_tls_context(upstream):
    """Each TLS context loads the system's CA certificates (about 1.5 MB): one per upstream, not one per shard."""
    pool = upstream[-1]
    assert len({id(shard._pool._ssl_context) for shard in pool.shards}) == 1


def test_environment_proxy_is_kept(monkeypatch):
    """A proxy set in the environment is still used (httpx stops reading it once given a transport)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert transport.environment_proxy("https://api.openai.com/v1") == "http://proxy.internal:3128"
    assert transport.environment_proxy("http://127.0.0.1:8000/v1") is None
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("NO_PROXY")
    assert transport.environment_proxy("https://api.openai.com/v1") is None
