"""Fake Gemini API (v1beta): generateContent, streamGenerateContent (SSE) and models, real wire shapes."""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Optional

from .behaviour import Behaviour, count_tokens, echo_headers, echo_key_in, limit_pieces, reply_pieces
from .http11 import Connection, Request
from .server import FakeServer, RecordedRequest

DEFAULT_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash")
_ROUTE = re.compile(r"^/(v1beta|v1|v1alpha)/models(?:/([^/:]+))?(?::(\w+))?/?$")
_HELP = "https://developers.generativeai.google/guide/troubleshooting"

# kind -> (status, gRPC status, message); messages follow generativelanguage.googleapis.com.
ERRORS: dict[str, tuple] = {
    "invalid_argument": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "api_key_invalid": (400, "INVALID_ARGUMENT",
                        "API key not valid. Please pass a valid API key."),
    "context_length_exceeded": (400, "INVALID_ARGUMENT",
                                "The input token count (1100000) exceeds the maximum number of "
                                "tokens allowed (1048576)."),
    "failed_precondition": (400, "FAILED_PRECONDITION",
                            "User location is not supported for the API use."),
    "unauthenticated": (401, "UNAUTHENTICATED",
                        "Request had invalid authentication credentials."),
    "permission_denied": (403, "PERMISSION_DENIED",
                          "Method doesn't allow unregistered callers (callers without "
                          "established identity). Please use API Key or other form of API "
                          "consumer identity to call this API."),
    "not_found": (404, "NOT_FOUND", "models/{model} is not found for API version {version}, or "
                  "is not supported for {method}. Call ListModels to see the list of available "
                  "models and their supported methods."),
    "resource_exhausted": (429, "RESOURCE_EXHAUSTED",
                           "You exceeded your current quota, please check your plan and billing "
                           "details. For more information on this error, head to: "
                           "https://ai.google.dev/gemini-api/docs/rate-limits."),
    "internal": (500, "INTERNAL",
                 f"An internal error has occurred. Please retry or report in {_HELP}"),
    "unavailable": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "deadline_exceeded": (504, "DEADLINE_EXCEEDED",
                          "The request timed out. Please try again."),
}
STATUS_KINDS = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
                404: "not_found", 429: "resource_exhausted", 500: "internal",
                503: "unavailable", 504: "deadline_exceeded"}


def _details(kind: str) -> Optional[list]:
    if kind == "api_key_invalid":
        return [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com",
                 "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}]
    if kind == "resource_exhausted":
        return [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                                                "generate_content_free_tier_requests",
                                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                                 "quotaValue": "10"}]},
                {"@type": "type.googleapis.com/google.rpc.Help",
                 "links": [{"description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    return None


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "unknown"


def error_body(kind: str, status: int = 0, message: Optional[str] = None,
               **fmt: Any) -> tuple[int, dict]:
    """Status and `{"error": {code, message, status[, details]}}` for a kind or a status."""
    kind = kind if kind in ERRORS else STATUS_KINDS.get(status, "internal")
    kstatus, grpc, template = ERRORS[kind]
    status = status or kstatus
    err = {"code": status, "message": message or template.format_map(_Blank(fmt)),
           "status": grpc}
    details = _details(kind)
    if details:
        err["details"] = details
    return status, {"error": err}


def prompt_text(body: dict) -> tuple[str, str]:
    """(all prompt text incl. system instruction, last user turn's text) from a request body."""
    def text_of(content: Any) -> str:
        parts = content.get("parts") if isinstance(content, dict) else None
        return " ".join(p.get("text", "") for p in parts or [] if isinstance(p, dict))

    texts = [text_of(body.get("systemInstruction") or body.get("system_instruction"))]
    last_user = ""
    for content in body.get("contents") or []:
        texts.append(text_of(content))
        if isinstance(content, dict) and content.get("role", "user") == "user":
            last_user = text_of(content)
    return " ".join(t for t in texts if t), last_user


class FakeGemini(FakeServer):
    """Loopback server speaking the Gemini API's v1beta wire format."""

    def __init__(self, valid_keys: Optional[set] = None, *, models=DEFAULT_MODELS, **kwargs: Any):
        super().__init__(valid_keys, **kwargs)
        self.models = list(models)

    @property
    def base_url(self) -> str:
        """What to pass as HttpOptions.base_url: the root; the SDK appends /v1beta/..."""
        return self.root_url

    def key_of(self, req: Request) -> Optional[str]:
        return req.headers.get("x-goog-api-key") or req.query.get("key") or None

    def _headers(self, rec: RecordedRequest, b: Optional[Behaviour] = None) -> list:
        h = [("vary", "Origin, X-Origin, Referer"), ("server", "scaffolding on HTTPServer2")]
        h += echo_headers(b or self.default, rec.key)
        return h + list(b.headers.items()) if b else h

    def _error_body(self, rec: RecordedRequest, kind: str, status: int = 0, message=None,
                    b: Optional[Behaviour] = None, **fmt: Any) -> tuple[int, dict]:
        """An error's status and body; the key quoted in full when the behaviour echoes keys."""
        status, body = error_body(kind, status, message, **fmt)
        if (b or self.default).echo_key:
            body["error"]["message"] = echo_key_in(body["error"]["message"], rec.key)
        return status, body

    async def error(self, conn, req, rec, kind: str, status: int = 0, message=None,
                    b: Optional[Behaviour] = None, **fmt: Any) -> None:
        """Send a Google-API-shaped error."""
        status, body = self._error_body(rec, kind, status, message, b, **fmt)
        await self.send_json(conn, req, rec, status, body, self._headers(rec, b),
                             "application/json; charset=UTF-8")

    async def handle(self, conn: Connection, req: Request, rec: RecordedRequest) -> None:
        if rec.key is None:
            return await self.error(conn, req, rec, "permission_denied")
        if self.valid_keys is not None and rec.key not in self.valid_keys:
            return await self.error(conn, req, rec, "api_key_invalid")
        m = _ROUTE.match(req.path)
        if not m:
            return await self.error(conn, req, rec, "not_found",
                                    message=f"Requested entity was not found: {req.path}")
        version, model, method = m.groups()
        if req.method == "GET" and model is None and method is None:
            body = {"models": [self._model(name) for name in self.models]}
            return await self.send_json(conn, req, rec, 200, body, self._headers(rec),
                                        "application/json; charset=UTF-8")
        if req.method == "GET" and method is None:
            if model in self.models:
                return await self.send_json(conn, req, rec, 200, self._model(model),
                                            self._headers(rec), "application/json; charset=UTF-8")
            return await self.error(conn, req, rec, "not_found", model=model, version=version,
                                    method="get")
        if req.method == "POST" and model and method in ("generateContent",
                                                         "streamGenerateContent"):
            return await self._generate(conn, req, rec, model, method == "streamGenerateContent")
        await self.error(conn, req, rec, "not_found",
                         message=f"Method {method} not found for {req.method} {req.path}.")

    @staticmethod
    def _model(name: str) -> dict:
        return {"name": f"models/{name}", "version": "001", "displayName": name,
                "description": f"Fake {name}", "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
                "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2,
                "thinking": True}

    async def _generate(self, conn: Connection, req: Request, rec: RecordedRequest, model: str,
                        stream: bool) -> None:
        body = rec.json
        if not isinstance(body, dict):
            return await self.error(conn, req, rec, "invalid_argument",
                                    message="Invalid JSON payload received.")
        if not body.get("contents"):
            return await self.error(conn, req, rec, "invalid_argument", message=(
                "* GenerateContentRequest.contents: contents is not specified\n"))
        b = rec.behaviour = self.take_plan(rec.key)
        if not await self.wait_before_headers(conn, rec, b):
            return
        if b.is_error:
            return await self.error(conn, req, rec, b.error or "", b.status, b.message, b,
                                    model=model, version="v1beta", method="generateContent")
        all_text, last_user = prompt_text(body)
        limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
        pieces, cut = limit_pieces(reply_pieces(b, last_user, body), limit)
        finish = b.finish_reason or ("MAX_TOKENS" if cut else "STOP")
        usage = self._usage(b, all_text, "".join(pieces))
        meta = {"modelVersion": b.model or model, "responseId": uuid.uuid4().hex[:22]}
        if not stream:
            content = {"parts": [{"text": "".join(pieces)}], "role": "model"}
            result = {"candidates": [{"content": content, "finishReason": finish, "index": 0}],
                      **({"usageMetadata": usage} if usage else {}), **meta}
            return await self.send_json(conn, req, rec, 200, result, self._headers(rec, b),
                                        "application/json; charset=UTF-8")
        await self._stream(conn, req, rec, b, pieces or [""], finish, usage, meta)

    @staticmethod
    def _usage(b: Behaviour, prompt: str, reply: str) -> Optional[dict]:
        if b.usage is False:
            return None
        prompt_tokens = max(1, count_tokens(prompt))
        candidates = count_tokens(reply)
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": candidates,
                 # Thinking tokens are outside candidatesTokenCount but inside the total.
                 "totalTokenCount": prompt_tokens + candidates + b.thoughts_tokens,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
        if b.cached_tokens:
            usage["cachedContentTokenCount"] = b.cached_tokens
        if b.thoughts_tokens:
            usage["thoughtsTokenCount"] = b.thoughts_tokens
        if isinstance(b.usage, dict):
            usage.update(b.usage)
        return usage

    async def _stream(self, conn, req, rec, b: Behaviour, pieces: list, finish: str,
                      usage: Optional[dict], meta: dict) -> None:
        sse = req.query.get("alt") == "sse"
        partial = ({"promptTokenCount": usage["promptTokenCount"],
                    "totalTokenCount": usage["promptTokenCount"]} if usage else None)
        events = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            cand = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if last:
                cand["finishReason"] = finish
            chunk = {"candidates": [cand]}
            if usage:
                chunk["usageMetadata"] = usage if last else partial
            data = json.dumps({**chunk, **meta}).encode()
            # Gemini ends SSE events with CRLF CRLF; without alt=sse it streams one JSON array.
            if sse:
                events.append(b"data: " + data + b"\r\n\r\n")
            else:
                events.append((b"[" if i == 0 else b",\r\n") + data)
        tail = b"" if sse else b"]"
        if b.error_after is not None:
            # An error object in the stream, after which the upstream ends it.
            _, err = self._error_body(rec, "internal", 0, b.message, b)
            data = json.dumps(err).encode()
            error_event = (b"data: " + data + b"\r\n\r\n" if sse
                           else (b"[" if not b.error_after else b",\r\n") + data)
            events = events[:b.error_after] + [error_event]
        content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
        await self.run_stream(conn, rec, b, content_type, self._headers(rec, b), events, tail=tail)
