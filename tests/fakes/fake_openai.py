"""Fake OpenAI upstream: /v1/chat/completions (JSON and SSE) and /v1/models, real wire shapes."""
from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any, Optional

from .behaviour import Behaviour, count_tokens, echo_headers, echo_key_in, limit_pieces, reply_pieces
from .http11 import Connection, Request
from .server import FakeServer, RecordedRequest

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini")
FINGERPRINT = "fp_f4ke00c0de"

# kind -> (status, type, code, param, message); messages follow what api.openai.com returns.
ERRORS: dict[str, tuple] = {
    "invalid_api_key": (401, "invalid_request_error", "invalid_api_key", None,
                        "Incorrect API key provided: {key}. You can find your API key at "
                        "https://platform.openai.com/account/api-keys."),
    "missing_api_key": (401, "invalid_request_error", None, None,
                        "You didn't provide an API key. You need to provide your API key in an "
                        "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                        "YOUR_KEY), or as the password field (with blank username) if you're "
                        "accessing the API from your browser and are prompted for a username and "
                        "password. You can obtain an API key from "
                        "https://platform.openai.com/account/api-keys."),
    "permission_denied": (403, "invalid_request_error", "unsupported_country_region_territory",
                          None, "Country, region, or territory not supported"),
    "invalid_request": (400, "invalid_request_error", None, None,
                        "Invalid request: the fake upstream was told to reject this request."),
    "context_length_exceeded": (400, "invalid_request_error", "context_length_exceeded",
                                "messages", "This model's maximum context length is 128000 "
                                "tokens. However, your messages resulted in 130000 tokens. "
                                "Please reduce the length of the messages."),
    "invalid_json": (400, "invalid_request_error", None, None,
                     "We could not parse the JSON body of your request. (HINT: This likely means "
                     "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
                     "payload, but what was sent was not valid JSON.)"),
    "model_not_found": (404, "invalid_request_error", "model_not_found", None,
                        "The model `{model}` does not exist or you do not have access to it."),
    "not_found": (404, "invalid_request_error", None, None, "Invalid URL ({method} {path})"),
    "rate_limit_exceeded": (429, "requests", "rate_limit_exceeded", None,
                            "Rate limit reached for {model} in organization org-fake on requests "
                            "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in "
                            "20s. Visit https://platform.openai.com/account/rate-limits to learn "
                            "more."),
    "insufficient_quota": (429, "insufficient_quota", "insufficient_quota", None,
                           "You exceeded your current quota, please check your plan and billing "
                           "details. For more information on this error, read the docs: "
                           "https://platform.openai.com/docs/guides/error-codes/api-errors."),
    "server_error": (500, "server_error", None, None,
                     "The server had an error while processing your request. Sorry about that!"),
    "bad_gateway": (502, "server_error", None, None, "Bad gateway."),
    "overloaded": (503, "server_error", None, None,
                   "The engine is currently overloaded, please try again later."),
    "timeout": (504, "server_error", None, None, "Gateway timeout."),
}
STATUS_KINDS = {401: "invalid_api_key", 400: "invalid_request", 403: "permission_denied",
                404: "model_not_found", 429: "rate_limit_exceeded", 500: "server_error",
                502: "bad_gateway", 503: "overloaded", 504: "timeout"}


def error_body(kind: str, status: int = 0, message: Optional[str] = None,
               **fmt: Any) -> tuple[int, dict]:
    """Status and `{"error": {...}}` body for an error kind (or the kind a status implies)."""
    kind = kind if kind in ERRORS else STATUS_KINDS.get(status, "server_error")
    kstatus, etype, code, param, template = ERRORS[kind]
    text = message or template.format_map(_Blank(fmt))
    return status or kstatus, {"error": {"message": text, "type": etype, "param": param,
                                         "code": code}}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "unknown"


def mask_key(key: Optional[str]) -> str:
    """Show a key the way OpenAI's 401 message does: ends only."""
    if not key:
        return ""
    return key if len(key) < 8 else f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def prompt_text(body: dict) -> tuple[str, str]:
    """(all message text, last user message text) from a chat completions body."""
    texts, last_user = [], ""
    for msg in body.get("messages") or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):  # content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        content = content if isinstance(content, str) else ""
        texts.append(content)
        if msg.get("role") == "user":
            last_user = content
    return " ".join(texts), last_user


class FakeOpenAI(FakeServer):
    """Loopback server speaking OpenAI's chat completions wire format."""

    def __init__(self, valid_keys: Optional[set] = None, *, models=DEFAULT_MODELS, **kwargs: Any):
        super().__init__(valid_keys, **kwargs)
        self.models = list(models)
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's base_url."""
        return f"{self.root_url}/v1"

    def key_of(self, req: Request) -> Optional[str]:
        auth = req.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def _headers(self, rec: RecordedRequest, b: Optional[Behaviour] = None) -> list:
        # The SDK reads x-request-id into `._request_id`; keep it present like the real API.
        h = [("x-request-id", f"req_{uuid.uuid4().hex}"), ("openai-processing-ms", "1")]
        h += echo_headers(b or self.default, rec.key)
        return h + list(b.headers.items()) if b else h

    def _error_body(self, rec: RecordedRequest, kind: str, status: int = 0, message=None,
                    b: Optional[Behaviour] = None, **fmt: Any) -> tuple[int, dict]:
        """An error's status and body; the key quoted in full when the behaviour echoes keys."""
        echo = (b or self.default).echo_key
        if echo:
            fmt["key"] = rec.key
        status, body = error_body(kind, status, message, **fmt)
        if echo:
            body["error"]["message"] = echo_key_in(body["error"]["message"], rec.key)
        return status, body

    async def error(self, conn, req, rec, kind: str, status: int = 0, message=None,
                    b: Optional[Behaviour] = None, **fmt: Any) -> None:
        """Send an OpenAI-shaped error."""
        status, body = self._error_body(rec, kind, status, message, b, method=req.method, path=req.path, **fmt)
        await self.send_json(conn, req, rec, status, body, self._headers(rec, b))

    async def handle(self, conn: Connection, req: Request, rec: RecordedRequest) -> None:
        if rec.key is None:
            return await self.error(conn, req, rec, "missing_api_key")
        if self.valid_keys is not None and rec.key not in self.valid_keys:
            return await self.error(conn, req, rec, "invalid_api_key", key=mask_key(rec.key))
        path = req.path.rstrip("/")
        if req.method == "POST" and path == "/v1/chat/completions":
            return await self._chat(conn, req, rec)
        if req.method == "GET" and path == "/v1/models":
            data = [self._model(m) for m in self.models]
            return await self.send_json(conn, req, rec, 200, {"object": "list", "data": data},
                                        self._headers(rec))
        if req.method == "GET" and path.startswith("/v1/models/"):
            name = path[len("/v1/models/"):]
            if name in self.models:
                return await self.send_json(conn, req, rec, 200, self._model(name),
                                            self._headers(rec))
            return await self.error(conn, req, rec, "model_not_found", model=name)
        await self.error(conn, req, rec, "not_found")

    @staticmethod
    def _model(name: str) -> dict:
        return {"id": name, "object": "model", "created": 1721172741, "owned_by": "system"}

    async def _chat(self, conn: Connection, req: Request, rec: RecordedRequest) -> None:
        body = rec.json
        if not isinstance(body, dict):
            return await self.error(conn, req, rec, "invalid_json")
        if not body.get("model"):
            return await self.error(conn, req, rec, "invalid_request",
                                    message="you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return await self.error(conn, req, rec, "invalid_request",
                                    message="Missing required parameter: 'messages'.")
        if body.get("stream_options") is not None and not body.get("stream"):
            return await self.error(conn, req, rec, "invalid_request", message=(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled."))
        b = rec.behaviour = self.take_plan(rec.key)
        if not await self.wait_before_headers(conn, rec, b):
            return
        if b.is_error:
            return await self.error(conn, req, rec, b.error or "", b.status, b.message, b,
                                    model=body["model"], key=mask_key(rec.key))
        all_text, last_user = prompt_text(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        pieces, cut = limit_pieces(reply_pieces(b, last_user, body), limit)
        finish = b.finish_reason or ("length" if cut else "stop")
        usage = self._usage(b, all_text, "".join(pieces))
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
                "model": b.model or body["model"], "system_fingerprint": FINGERPRINT}
        if body.get("stream"):
            return await self._stream(conn, rec, b, body, base, pieces, finish, usage)
        message = {"role": "assistant", "content": "".join(pieces), "refusal": None,
                   "annotations": []}
        result = {"id": base["id"], "object": "chat.completion", "created": base["created"],
                  "model": base["model"],
                  "choices": [{"index": 0, "message": message, "logprobs": None,
                               "finish_reason": finish}],
                  "usage": usage, "service_tier": "default",
                  "system_fingerprint": FINGERPRINT}
        await self.send_json(conn, req, rec, 200, result, self._headers(rec, b))

    @staticmethod
    def _usage(b: Behaviour, prompt: str, reply: str) -> dict:
        prompt_tokens = max(1, count_tokens(prompt))
        # Reasoning tokens are billed as completion tokens, as with o-series models.
        completion = count_tokens(reply) + b.reasoning_tokens
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                 "total_tokens": prompt_tokens + completion,
                 "prompt_tokens_details": {"cached_tokens": b.cached_tokens, "audio_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": b.reasoning_tokens,
                                               "audio_tokens": 0,
                                               "accepted_prediction_tokens": 0,
                                               "rejected_prediction_tokens": 0}}
        if isinstance(b.usage, dict):
            usage.update(b.usage)
        return usage

    async def _stream(self, conn, rec, b: Behaviour, body: dict, base: dict, pieces: list,
                      finish: str, usage: dict) -> None:
        opts = body.get("stream_options") or {}
        want_usage = bool(opts.get("include_usage")) and b.usage is not False
        extra = {"usage": None} if opts.get("include_usage") else {}

        def event(delta: dict, finish_reason=None, choices=True, **more) -> bytes:
            chunk = {"id": base["id"], "object": "chat.completion.chunk",
                     "created": base["created"], "model": base["model"],
                     "service_tier": "default", "system_fingerprint": FINGERPRINT,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                  "finish_reason": finish_reason}] if choices else [],
                     **extra, **more}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        head = event({"role": "assistant", "content": "", "refusal": None})
        events = [event({"content": p}) for p in pieces]
        if want_usage and b.usage_on_choice_chunk:
            tail = event({}, finish, usage=usage)
        elif want_usage:
            tail = event({}, finish) + event({}, choices=False, usage=usage)
        else:
            tail = event({}, finish)
        tail += b"data: [DONE]\n\n"
        if b.error_after is not None:
            # An error event in the stream, after which the upstream ends it: no finish, no [DONE].
            _, err = self._error_body(rec, "server_error", 0, b.message, b)
            events, tail = events[:b.error_after] + [b"data: " + json.dumps(err).encode() + b"\n\n"], b""
        await self.run_stream(conn, rec, b, "text/event-stream; charset=utf-8", self._headers(rec, b),
                              events, head, tail)
