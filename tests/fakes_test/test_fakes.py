"""Do the fake upstreams speak OpenAI's and Gemini's wire formats well enough for the real SDKs?"""
from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fakes import FakeGemini, FakeOpenAI, closed_port
from tests.fakes.behaviour import ECHO_HEADER

ROOT = Path(__file__).resolve().parents[2]
MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello big world"}]
GEMINI_MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def oai_srv():
    with FakeOpenAI(valid_keys={"sk-good", "sk-two"}) as srv:
        yield srv


@pytest.fixture
def oai(oai_srv):
    oai_srv.reset()
    yield oai_srv
    oai_srv.reset()


@pytest.fixture
def oai_client(oai):
    return openai.OpenAI(api_key="sk-good", base_url=oai.base_url, max_retries=0)


@pytest.fixture(scope="module")
def gem_srv():
    with FakeGemini(valid_keys={"g-good", "g-two"}) as srv:
        yield srv


@pytest.fixture
def gem(gem_srv):
    gem_srv.reset()
    yield gem_srv
    gem_srv.reset()


_clients: list = []


def gemini_client(srv, key="g-good", timeout_ms=None):
    """A real google-genai client pointed at the fake."""
    opts = types.HttpOptions(base_url=srv.base_url, api_version="v1beta", timeout=timeout_ms)
    client = genai.Client(api_key=key, http_options=opts)
    # A Client that gets garbage-collected closes its httpx2 client, even under a call that
    # is still running from `gemini_client(...).models...`; keep them alive for the module.
    _clients.append(client)
    return client


def raw_request(port: int, method: str, path: str, body: dict, headers: dict) -> socket.socket:
    """Send one HTTP/1.1 request on a plain socket and return the socket for reading."""
    data = json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{port}",
            "content-type: application/json", f"content-length: {len(data)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    return sock


# ---- OpenAI ---------------------------------------------------------------------------------
def test_openai_json_completion(oai, oai_client):
    """Does a plain completion come back in the chat.completion shape with word-count usage?"""
    r = oai_client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert r.object == "chat.completion" and r.model == "gpt-4o-mini"
    assert r.choices[0].message.content == "Echo: hello big world"
    assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (5, 4, 9)
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert r.usage.completion_tokens_details.reasoning_tokens == 0
    assert r.system_fingerprint and r.id.startswith("chatcmpl-")
    rec = oai.requests[-1]
    assert (rec.method, rec.path, rec.key) == ("POST", "/v1/chat/completions", "sk-good")
    assert rec.json["messages"] == MSGS and rec.headers["authorization"] == "Bearer sk-good"


def test_openai_gzip_and_keepalive(oai, oai_client):
    """Are JSON bodies gzipped when asked, and does the SDK reuse one connection?"""
    raw = oai_client.chat.completions.with_raw_response.create(model="m", messages=MSGS)
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.parse().choices[0].message.content == "Echo: hello big world"
    oai_client.models.list()
    assert oai.total_connections == 1
    with httpx2.Client(headers={"accept-encoding": "identity"}) as plain:
        r = plain.post(f"{oai.base_url}/chat/completions", json={"model": "m", "messages": MSGS},
                       headers={"authorization": "Bearer sk-good"})
    assert "content-encoding" not in r.headers and r.json()["object"] == "chat.completion"
    sock = raw_request(oai.port, "GET", "/v1/models", {},
                       {"authorization": "Bearer sk-good", "accept-encoding": "gzip",
                        "connection": "close"})
    data = b"".join(iter(lambda: sock.recv(65536), b""))
    sock.close()
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"content-encoding: gzip" in head and body[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(body))["object"] == "list"


def test_openai_stream_with_usage_chunk(oai, oai_client):
    """Does include_usage end the stream with a choices:[] chunk carrying usage, then [DONE]?"""
    oai.plan(reasoning_tokens=7, cached_tokens=2)
    chunks = list(oai_client.chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello big world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 4 + 7
    assert last.usage.completion_tokens_details.reasoning_tokens == 7
    assert last.usage.prompt_tokens_details.cached_tokens == 2
    # The client can finish reading before the server has noted the end: wait for it.
    assert oai.wait_for_streams_ended(1, timeout=2) and oai.open_streams == 0
    assert oai.streams[-1].completed and oai.streams[-1].chunks_sent == 4


def test_openai_stream_usage_variants(oai, oai_client):
    """Can usage ride on the finish chunk instead, or be left out altogether?"""
    oai.plan(usage_on_choice_chunk=True)
    chunks = list(oai_client.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens == 9
    oai.plan(usage=False)
    chunks = list(oai_client.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True}))
    assert all(c.choices and c.usage is None for c in chunks)
    with httpx2.Client() as http:
        body = http.post(f"{oai.base_url}/chat/completions", headers={
            "authorization": "Bearer sk-good"}, json={"model": "m", "messages": MSGS,
                                                      "stream": True}).text
    assert '"usage"' not in body and body.endswith("data: [DONE]\n\n")
    assert body.count("\n\n") == body.count("data: ")


def test_openai_text_chunks_and_max_tokens(oai, oai_client):
    """Do text, explicit chunks, a chunk count and max_tokens shape the reply?"""
    oai.plan(text="Custom answer here")
    assert oai_client.chat.completions.create(
        model="m", messages=MSGS).choices[0].message.content == "Custom answer here"
    oai.plan(chunks=["A", "B", "C"])
    chunks = list(oai_client.chat.completions.create(model="m", messages=MSGS, stream=True))
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["A", "B", "C"]
    oai.plan(chunks=6)
    r = oai_client.chat.completions.create(model="m", messages=MSGS)
    assert len(r.choices[0].message.content.split()) == 6 and r.usage.completion_tokens == 6
    r = oai_client.chat.completions.create(model="m", messages=MSGS, max_tokens=2)
    assert r.choices[0].message.content == "Echo: hello" and r.choices[0].finish_reason == "length"


@pytest.mark.parametrize("plan, exc, status, code", [
    ({"status": 401}, openai.AuthenticationError, 401, "invalid_api_key"),
    ({"status": 429}, openai.RateLimitError, 429, "rate_limit_exceeded"),
    ({"error": "insufficient_quota"}, openai.RateLimitError, 429, "insufficient_quota"),
    ({"error": "context_length_exceeded"}, openai.BadRequestError, 400,
     "context_length_exceeded"),
    ({"status": 500}, openai.InternalServerError, 500, None),
    ({"status": 503}, openai.InternalServerError, 503, None),
])
def test_openai_errors_map_to_sdk_exceptions(oai, oai_client, plan, exc, status, code):
    """Does each planned error raise the SDK exception a real one would?"""
    oai.plan(**plan)
    with pytest.raises(exc) as info:
        oai_client.chat.completions.create(model="m", messages=MSGS, stream=True)
    assert info.value.status_code == status and info.value.code == code
    assert set(info.value.body) == {"message", "type", "param", "code"}


def test_openai_unknown_key_and_refused_port(oai):
    """Is a key outside valid_keys a 401, and a closed port a connection error?"""
    bad = openai.OpenAI(api_key="sk-not-a-real-key", base_url=oai.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="m", messages=MSGS)
    assert "sk-not-a-real-key" not in str(info.value)  # masked, as OpenAI does
    gone = openai.OpenAI(api_key="sk-good", base_url=f"http://127.0.0.1:{closed_port()}/v1",
                         max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        gone.models.list()


def test_openai_plan_keyed(oai):
    """Is a keyed plan consumed only by a request with that key?"""
    oai.plan(key="sk-two", status=429)
    good = openai.OpenAI(api_key="sk-good", base_url=oai.base_url, max_retries=0)
    two = openai.OpenAI(api_key="sk-two", base_url=oai.base_url, max_retries=0)
    assert good.chat.completions.create(model="m", messages=MSGS).choices
    assert oai.pending_plans == 1
    with pytest.raises(openai.RateLimitError):
        two.chat.completions.create(model="m", messages=MSGS)
    assert oai.pending_plans == 0 and two.chat.completions.create(model="m", messages=MSGS)


def test_openai_break_after(oai, oai_client):
    """Does break_after=N cut the stream after N content chunks with an SDK error?"""
    oai.plan(break_after=2)
    got = []
    with pytest.raises(openai.APIConnectionError) as info:
        for chunk in oai_client.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "Echo:", " hello"]
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert oai.wait_for_streams_ended(1, timeout=2)
    assert oai.streams[-1].broken and not oai.streams[-1].completed


def test_openai_echo_key_quotes_the_key_in_errors_and_a_header(oai, oai_client):
    """With echo_key, do the 401 and every planned error quote the whole key, and every answer carry it?"""
    oai.default = oai.default.replace(echo_key=True)
    bad = openai.OpenAI(api_key="sk-not-a-real-key", base_url=oai.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="m", messages=MSGS)
    assert info.value.body["message"].startswith("Incorrect API key provided: sk-not-a-real-key.")
    assert info.value.response.headers[ECHO_HEADER] == "sk-not-a-real-key"
    oai.plan(status=500)
    with pytest.raises(openai.InternalServerError) as info:
        oai_client.chat.completions.create(model="m", messages=MSGS)
    assert "sk-good" in info.value.message
    answer = oai_client.chat.completions.with_raw_response.create(model="m", messages=MSGS)
    assert answer.headers[ECHO_HEADER] == "sk-good"


def test_openai_error_after_sends_an_error_event(oai, oai_client):
    """Does error_after=N send N content chunks, then an in-band error event the SDK raises as APIError?"""
    oai.plan(error_after=2, echo_key=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in oai_client.chat.completions.create(model="m", messages=MSGS, stream=True):
            got.append(chunk.choices[0].delta.content)
    assert type(info.value) is openai.APIError, "an error event, not a dropped connection"
    assert got == ["", "Echo:", " hello"] and "sk-good" in info.value.message
    assert oai.wait_for_streams_ended(1, timeout=2) and oai.streams[-1].completed


def test_openai_delay_times_out(oai, oai_client):
    """Does a delay past the client's timeout raise APITimeoutError, and is the exit seen?"""
    oai.plan(delay=3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai_client.with_options(timeout=0.3).chat.completions.create(model="m", messages=MSGS)
    assert time.monotonic() - started < 2
    assert oai.wait_until(lambda: oai.requests[-1].client_disconnected, 2)


def test_openai_client_disconnect_detected(oai, oai_client):
    """When the SDK closes a stream early, does the fake notice within a chunk interval?"""
    oai.plan(chunks=50, chunk_interval=0.1)
    stream = oai_client.chat.completions.create(model="m", messages=MSGS, stream=True)
    next(stream), next(stream), next(stream)
    stream.close()
    closed = time.monotonic()
    assert oai.wait_for_disconnect(timeout=2)
    s = oai.streams[-1]
    assert s.client_disconnected and not s.completed and s.chunks_sent < 10
    assert s.ended_at - closed < 0.5


# ---- Gemini ---------------------------------------------------------------------------------
def test_gemini_json(gem):
    """Does generateContent return candidates, usageMetadata and modelVersion?"""
    client = gemini_client(gem)
    r = client.models.generate_content(
        model=GEMINI_MODEL, contents="hello big world",
        config=types.GenerateContentConfig(system_instruction="be brief", temperature=0.2,
                                           max_output_tokens=50))
    assert r.text == "Echo: hello big world"
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    u = r.usage_metadata
    assert (u.prompt_token_count, u.candidates_token_count, u.total_token_count) == (5, 4, 9)
    assert r.model_version == GEMINI_MODEL and r.response_id
    rec = gem.requests[-1]
    assert rec.path == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert rec.key == "g-good" and rec.headers["x-goog-api-key"] == "g-good"
    assert rec.json["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert rec.json["systemInstruction"]["parts"] == [{"text": "be brief"}]


def test_gemini_stream_and_thinking_usage(gem):
    """Does the SSE stream parse, with prompt counts on every chunk and totals on the last?"""
    gem.plan(thoughts_tokens=10, cached_tokens=1)
    client = gemini_client(gem)
    chunks = list(client.models.generate_content_stream(
        model=GEMINI_MODEL, contents="hello big world"))
    assert "".join(c.text for c in chunks) == "Echo: hello big world" and len(chunks) == 4
    assert all(c.usage_metadata.prompt_token_count == 3 for c in chunks)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[0].candidates[0].finish_reason is None
    u = chunks[-1].usage_metadata
    assert (u.candidates_token_count, u.thoughts_token_count, u.total_token_count) == (4, 10, 17)
    assert u.cached_content_token_count == 1
    assert gem.requests[-1].query == {"alt": "sse"}
    assert gem.wait_for_streams_ended(1, timeout=2) and gem.streams[-1].completed


def test_gemini_sse_uses_crlf(gem):
    """Are Gemini's SSE events separated by CRLF CRLF on the wire, and JSON bodies gzipped?"""
    url = f"{gem.base_url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse&key=g-two"
    with httpx2.Client() as http:
        with http.stream("POST", url, json={"contents": [{"parts": [{"text": "a b"}]}]}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in r.headers
            raw = b"".join(r.iter_raw())
        events = raw.split(b"\r\n\r\n")
        assert events[-1] == b"" and len(events) == 4 and b"\n\n" not in raw
        assert all(e.startswith(b"data: {") for e in events[:-1])
        r = http.post(url.replace("streamGenerateContent?alt=sse&", "generateContent?"),
                      json={"contents": [{"parts": [{"text": "a b"}]}]})
        assert r.headers["content-encoding"] == "gzip" and r.json()["candidates"]
    assert gem.requests[-1].key == "g-two"


@pytest.mark.parametrize("plan, exc, code, status", [
    ({"status": 400}, genai_errors.ClientError, 400, "INVALID_ARGUMENT"),
    ({"status": 403}, genai_errors.ClientError, 403, "PERMISSION_DENIED"),
    ({"status": 429}, genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ({"status": 500}, genai_errors.ServerError, 500, "INTERNAL"),
    ({"status": 503}, genai_errors.ServerError, 503, "UNAVAILABLE"),
])
def test_gemini_errors_map_to_sdk_exceptions(gem, plan, exc, code, status):
    """Does each planned error raise ClientError/ServerError with the matching code?"""
    client = gemini_client(gem)
    for call in (client.models.generate_content,
                 lambda **kw: list(client.models.generate_content_stream(**kw))):
        gem.plan(**plan)
        with pytest.raises(exc) as info:
            call(model=GEMINI_MODEL, contents="hi")
        assert info.value.code == code and info.value.status == status


def test_gemini_invalid_key_and_keyed_plan(gem):
    """Is an unknown key a 400 API_KEY_INVALID, and a keyed plan used only by its key?"""
    with pytest.raises(genai_errors.ClientError) as info:
        gemini_client(gem, key="nope").models.generate_content(model=GEMINI_MODEL, contents="x")
    assert info.value.code == 400
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    gem.plan(key="g-two", status=503)
    assert gemini_client(gem).models.generate_content(model=GEMINI_MODEL, contents="x").text
    with pytest.raises(genai_errors.ServerError):
        gemini_client(gem, key="g-two").models.generate_content(model=GEMINI_MODEL, contents="x")


def test_gemini_echo_key_and_error_after(gem):
    """With echo_key, do errors quote the whole key and answers carry it; does error_after raise in-band?"""
    gem.default = gem.default.replace(echo_key=True)
    with pytest.raises(genai_errors.ClientError) as info:
        gemini_client(gem, key="g-not-valid").models.generate_content(model=GEMINI_MODEL, contents="x")
    assert "g-not-valid" in info.value.message
    assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    answer = gemini_client(gem).models.generate_content(model=GEMINI_MODEL, contents="x")
    assert answer.sdk_http_response.headers[ECHO_HEADER] == "g-good"
    gem.plan(error_after=1)
    got = []
    with pytest.raises(genai_errors.ServerError) as info:
        for chunk in gemini_client(gem).models.generate_content_stream(model=GEMINI_MODEL,
                                                                        contents="hello big world"):
            got.append(chunk.text)
    assert got == ["Echo:"] and info.value.code == 500 and "g-good" in info.value.message


def test_gemini_break_after_and_timeout(gem):
    """Does break_after fail the SDK's iteration, and delay trip its (millisecond) timeout?"""
    gem.plan(break_after=1)
    got, client = [], gemini_client(gem)
    with pytest.raises(httpx2.RemoteProtocolError):
        for chunk in client.models.generate_content_stream(
                model=GEMINI_MODEL, contents="hello big world"):
            got.append(chunk.text)
    assert got == ["Echo:"] and gem.wait_for_streams_ended(1, timeout=2)
    assert gem.streams[-1].broken
    gem.plan(delay=3)
    with pytest.raises(httpx2.TimeoutException):
        gemini_client(gem, timeout_ms=300).models.generate_content(model=GEMINI_MODEL,
                                                                    contents="x")


def test_gemini_raw_socket_disconnect(gem):
    """Does closing the socket mid-stream show up as client_disconnected promptly?"""
    gem.plan(chunks=50, chunk_interval=0.1)
    sock = raw_request(gem.port, "POST",
                       f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse",
                       {"contents": [{"parts": [{"text": "hi"}]}]}, {"x-goog-api-key": "g-good"})
    data = b""
    while data.count(b"data: ") < 2:
        data += sock.recv(65536)
    sock.close()
    closed = time.monotonic()
    assert gem.wait_for_disconnect(timeout=2)
    s = gem.streams[-1]
    assert s.client_disconnected and 2 <= s.chunks_sent < 10 and s.ended_at - closed < 0.5


def test_gemini_list_models(gem):
    """Does models.list() page through the fake's catalogue?"""
    names = [m.name for m in gemini_client(gem).models.list()]
    assert f"models/{GEMINI_MODEL}" in names


# ---- standalone -----------------------------------------------------------------------------
def test_standalone_serves_until_sigterm():
    """Does `python -m tests.fakes` print its address, serve, and exit cleanly on SIGTERM?"""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes", "openai", "--chunks", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        client = openai.OpenAI(api_key="anything", base_url=line.split()[-1] + "/v1",
                               max_retries=0)
        chunks = list(client.chat.completions.create(model="m", messages=MSGS, stream=True))
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
