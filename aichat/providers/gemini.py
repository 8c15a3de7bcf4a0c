"""Google Gemini (v1beta API) through Google's `google-genai` SDK.

Not `google-generativeai`: Google ended all support for it on 2025-11-30, and
`google-genai` is its official successor.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from .base import (
    ChatRequest,
    Completion,
    Delta,
    KeyInvalid,
    ProviderError,
    Timeouts,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
    Usage,
    error_for_status,
    redact,
)
from .transport import sharded

_FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}

# The SDK's stream generator does not close its HTTP response when it is closed early,
# so the response is caught by an httpx event hook and closed here instead.
_open_responses: ContextVar[list | None] = ContextVar("aichat_gemini_responses", default=None)


def _remember_response(response: httpx2.Response) -> None:
    responses = _open_responses.get()
    if responses is not None:
        responses.append(response)


class _ConnectTimeoutTransport(httpx2.HTTPTransport):
    """The SDK gives httpx one timeout for everything; keep connecting short on its own."""

    def __init__(self, connect_timeout: float, **kwargs):
        super().__init__(**kwargs)
        self._connect_timeout = connect_timeout

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = dict(request.extensions.get("timeout") or {})
        timeout["connect"] = self._connect_timeout
        request.extensions["timeout"] = timeout
        return super().handle_request(request)


@dataclass(frozen=True, slots=True)
class GeminiClients:
    """Two SDK clients over one connection pool: JSON calls wait longer than a stream's first chunk."""

    json: genai.Client
    stream: genai.Client
    api_key: str


class GeminiProvider:
    kind = "gemini"

    def __init__(self, base_url: str, timeouts: Timeouts, pool_size: int = 5000):
        self.base_url = base_url
        self.timeouts = timeouts
        self.pool_size = pool_size
        self._http: httpx2.Client | None = None
        self._async_http: httpx2.AsyncClient | None = None

    def make_client(self, api_key: str) -> GeminiClients:
        """SDK clients for one key; every key shares one connection pool to the upstream."""
        if self._http is None:
            transport = sharded(self.base_url, self.pool_size, min(self.pool_size, 200), _ConnectTimeoutTransport,
                                connect_timeout=self.timeouts.connect)
            self._http = httpx2.Client(
                transport=transport,
                event_hooks={"response": [_remember_response]},
            )
            # Never used (the gateway is synchronous), but the SDK would build one per client.
            self._async_http = httpx2.AsyncClient()

        def client(timeout_s: float) -> genai.Client:
            # No retry_options: the SDK then makes exactly one attempt; the gateway owns retrying.
            options = types.HttpOptions(base_url=self.base_url, api_version="v1beta", timeout=int(timeout_s * 1000),
                                        httpx_client=self._http, httpx_async_client=self._async_http)
            return genai.Client(api_key=api_key, http_options=options)

        # The SDK closes its HTTP clients when a genai.Client is collected: these live as long as the gateway.
        return GeminiClients(client(self.timeouts.total), client(self.timeouts.first_token), api_key)

    def complete(self, clients: GeminiClients, req: ChatRequest, model: str) -> Completion:
        contents, config = _request(req)
        try:
            response = clients.json.models.generate_content(model=model, contents=contents, config=config)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped onto the taxonomy
            raise _map_error(exc, clients.api_key) from None
        candidate = response.candidates[0] if response.candidates else None
        return Completion(
            content=_text(candidate),
            model=response.model_version or model,
            finish_reason=_finish_reason(candidate),
            usage=_usage(response.usage_metadata),
            id=response.response_id,
        )

    def stream(self, clients: GeminiClients, req: ChatRequest, model: str) -> Iterator[Delta]:
        contents, config = _request(req)
        responses: list = []
        _open_responses.set(responses)
        try:
            chunks = clients.stream.models.generate_content_stream(model=model, contents=contents, config=config)
            usage = None
            for chunk in chunks:
                candidate = chunk.candidates[0] if chunk.candidates else None
                usage = _usage(chunk.usage_metadata) or usage
                finish = _finish_reason(candidate)
                text = _text(candidate)
                if text or finish:
                    # Gemini repeats usage on every chunk; only the last one's counts are final.
                    yield Delta(text, finish, usage if finish else None, chunk.model_version or model)
        except GeneratorExit:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _map_error(exc, clients.api_key) from None
        finally:
            _open_responses.set(None)
            for response in responses:
                response.close()


def _request(req: ChatRequest) -> tuple[list[dict], dict]:
    """OpenAI-style messages as Gemini contents: system messages become the system instruction."""
    system = [m.content for m in req.messages if m.role == "system"]
    contents = [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
        for m in req.messages
        if m.role != "system"
    ]
    config: dict = {}
    if system:
        config["system_instruction"] = "\n\n".join(system)
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.max_tokens is not None:
        config["max_output_tokens"] = req.max_tokens
    return contents, config


def _text(candidate) -> str:
    if candidate is None or candidate.content is None or not candidate.content.parts:
        return ""
    # Thought summaries are not part of the answer.
    return "".join(p.text for p in candidate.content.parts if p.text and not p.thought)


def _finish_reason(candidate) -> str | None:
    if candidate is None or candidate.finish_reason is None:
        return None
    name = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
    return _FINISH_REASONS.get(name, "content_filter")


def _usage(meta) -> Usage | None:
    """Gemini's thoughts are outside candidatesTokenCount but billed as output: add them."""
    if meta is None or meta.prompt_token_count is None:
        return None
    thoughts = meta.thoughts_token_count or 0
    return Usage(
        prompt_tokens=meta.prompt_token_count or 0,
        completion_tokens=(meta.candidates_token_count or 0) + thoughts,
        cached_tokens=meta.cached_content_token_count or 0,
        reasoning_tokens=thoughts,
    )


def _map_error(exc: Exception, api_key: str) -> ProviderError:
    """The SDK's errors and the httpx2 exceptions it lets through, onto the taxonomy."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamTimeout("upstream timed out")
    if isinstance(exc, httpx2.TransportError):
        return UpstreamUnavailable(f"upstream connection failed: {type(exc).__name__}")
    if isinstance(exc, genai_errors.APIError):
        message = redact(exc.message or str(exc), (api_key,))
        if exc.code == 400 and "API_KEY_INVALID" in str(exc.details):
            return KeyInvalid(message, status=400)
        return error_for_status(exc.code or 500, message)
    return UpstreamServerError(f"unexpected upstream failure: {type(exc).__name__}")
