"""OpenAI, and every OpenAI-compatible endpoint (DeepSeek, Qwen, Ollama, vLLM …), through the official SDK."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import openai

from .base import (
    ChatRequest,
    Completion,
    Delta,
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

# Models that take `max_completion_tokens` and refuse `max_tokens`.
_COMPLETION_TOKENS_MODELS = ("o1", "o3", "o4", "gpt-5")


class OpenAIProvider:
    """One OpenAI-format upstream (a base URL); one SDK client per key, built once."""

    kind = "openai"

    def __init__(self, base_url: str, timeouts: Timeouts, pool_size: int = 5000):
        self.base_url = base_url
        self.pool_size = pool_size
        # JSON calls wait for the whole answer; streams only for the first chunk (and between chunks).
        self._json_timeout = httpx2.Timeout(timeouts.total, connect=timeouts.connect)
        self._stream_timeout = httpx2.Timeout(timeouts.first_token, connect=timeouts.connect)
        self._http: httpx2.Client | None = None

    def make_client(self, api_key: str) -> openai.OpenAI:
        """An SDK client with retries off (the gateway owns retrying); all keys share one sharded pool sized for many streams."""
        if self._http is None:
            transport = sharded(self.base_url, self.pool_size, min(self.pool_size, 200))
            self._http = httpx2.Client(transport=transport, timeout=self._json_timeout)
        return openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, http_client=self._http)

    def complete(self, client: openai.OpenAI, req: ChatRequest, model: str) -> Completion:
        """One non-streaming call.

        The SDK's low-level `post` keeps its auth, error mapping and timeouts but skips its
        parameter transformation and response models: about 0.9 ms of CPU per call here.
        """
        try:
            response = client.post("/chat/completions", cast_to=httpx2.Response, body=self._params(req, model),
                                   options={"timeout": self._json_timeout})
            body = response.json()
        except Exception as exc:  # noqa: BLE001 - every failure is mapped onto the taxonomy
            raise self._map_error(exc, client.api_key) from None
        try:
            choice = body["choices"][0]
            content = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamServerError("upstream answered without a choice") from None
        return Completion(
            content=content,
            model=body.get("model") or model,
            finish_reason=choice.get("finish_reason"),
            usage=_usage(body.get("usage")),
            id=body.get("id"),
        )

    def stream(self, client: openai.OpenAI, req: ChatRequest, model: str) -> Iterator[Delta]:
        """Yield deltas as upstream sends them; closing the generator closes the upstream response."""
        body = self._params(req, model)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        try:
            response = client.post("/chat/completions", cast_to=httpx2.Response, body=body,
                                   options={"timeout": self._stream_timeout}, stream=True)
        except Exception as exc:  # noqa: BLE001
            raise self._map_error(exc, client.api_key) from None
        try:
            yield from _deltas(response.iter_lines(), model, client.api_key)
        except (ProviderError, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._map_error(exc, client.api_key) from None
        finally:
            response.close()

    @staticmethod
    def _params(req: ChatRequest, model: str) -> dict:
        params: dict = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in req.messages],
        }
        if req.temperature is not None:
            params["temperature"] = req.temperature
        if req.max_tokens is not None:
            name = "max_completion_tokens" if model.startswith(_COMPLETION_TOKENS_MODELS) else "max_tokens"
            params[name] = req.max_tokens
        if req.extra:
            params.update(req.extra)
        return params

    @staticmethod
    def _map_error(exc: Exception, api_key: str) -> ProviderError:
        """The SDK's exceptions (and httpx2's, raised mid-stream) onto the taxonomy, key redacted."""
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return UpstreamTimeout("upstream timed out")
        if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
            return UpstreamUnavailable(f"upstream connection failed: {type(exc).__name__}")
        if isinstance(exc, openai.APIStatusError):
            # The SDK unwraps {"error": {...}} into `body`; some compatible upstreams do not nest it.
            body = exc.body if isinstance(exc.body, dict) else {}
            nested = body.get("error")
            code = body.get("code") or (nested.get("code") if isinstance(nested, dict) else None)
            message = redact(getattr(exc, "message", "") or str(exc), (api_key,))
            return error_for_status(exc.status_code, message, out_of_credit=code == "insufficient_quota")
        if isinstance(exc, openai.APIError):
            # An error event inside a stream (no HTTP status of its own).
            return UpstreamServerError(redact(str(exc), (api_key,)))
        return UpstreamServerError(f"unexpected upstream failure: {type(exc).__name__}")


def _deltas(lines: Iterator[str], model: str, api_key: str = "") -> Iterator[Delta]:
    """Deltas from OpenAI's SSE lines: `data: {chunk}` … `data: [DONE]`; usage may come on its own
    chunk (`choices: []`) or, with some compatible upstreams, on a chunk that also has choices."""
    finish_reason = None
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, `: keep-alive` comments, `event:` lines
        data = line[5:].strip()
        if data == "[DONE]":
            _read_to_end(lines)
            return
        chunk = json.loads(data)
        if "error" in chunk:
            error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
            raise UpstreamServerError(redact(str(error.get("message") or "upstream stream error"), (api_key,)))
        served = chunk.get("model") or model
        usage = _usage(chunk.get("usage"))
        choices = chunk.get("choices") or []
        if choices:
            choice = choices[0]
            finish_reason = choice.get("finish_reason") or finish_reason
            text = (choice.get("delta") or {}).get("content")
            if text or choice.get("finish_reason") or usage:
                yield Delta(text or "", choice.get("finish_reason"), usage, served)
        elif usage:
            yield Delta("", finish_reason, usage, served)


def _read_to_end(lines: Iterator[str]) -> None:
    """Read what follows `[DONE]` (normally only the end of the body) so the connection goes back to the pool.

    A response closed before its end closes its connection: every stream opened a new one, a TCP and, to a
    real upstream, TLS handshake before its first token (here about 1 ms of CPU, most of it resolving the
    host through gevent's thread pool). Whatever fails now is past the answer: the connection is dropped.
    """
    try:
        for _ in lines:
            pass
    except Exception:  # noqa: BLE001 - the answer is complete; only the connection's reuse is lost
        pass


def _usage(raw: dict | None) -> Usage | None:
    if not raw:
        return None
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=raw.get("prompt_tokens") or 0,
        completion_tokens=raw.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )
