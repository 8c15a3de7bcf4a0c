"""The provider seam: request and result types, the adapter protocol, and the error taxonomy.

Adapters turn one upstream call into these types and raise only the errors below;
the gateway decides what to do with them. Nothing here knows about Flask.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(slots=True)
class ChatRequest:
    """What the caller asked for, validated; `model` is the name the caller sent."""

    messages: list[Message]
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    # OpenAI parameters passed through unchanged to OpenAI-compatible upstreams.
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class Usage:
    """Token counts of one upstream call; prompt includes cached, completion includes reasoning."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    source: str = "provider"  # provider | estimated

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Completion:
    content: str
    model: str
    finish_reason: str | None
    usage: Usage | None
    id: str | None = None


@dataclass(slots=True)
class Delta:
    """One piece of a stream; the last one carries finish_reason and, when upstream sent it, usage."""

    content: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    first_token: float
    total: float


class Provider(Protocol):
    """One upstream wire protocol; `client` is whatever `make_client` built for one key, once."""

    def make_client(self, api_key: str): ...

    def complete(self, client, req: ChatRequest, model: str) -> Completion: ...

    def stream(self, client, req: ChatRequest, model: str) -> Iterator[Delta]: ...


# --- the error taxonomy -------------------------------------------------------


class ProviderError(Exception):
    """An upstream call failed; `code` is stable and safe to show, `message` is redacted."""

    code = "upstream_error"
    retryable = False
    bench_key = False  # the key itself is bad: take it out of rotation

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class RetryableError(ProviderError):
    retryable = True


class UpstreamTimeout(RetryableError):
    code = "upstream_timeout"


class UpstreamUnavailable(RetryableError):
    """Connection refused or reset, DNS failure, a stream cut off mid-way."""

    code = "upstream_unavailable"


class UpstreamRateLimited(RetryableError):
    code = "upstream_rate_limited"


class UpstreamServerError(RetryableError):
    code = "upstream_server_error"


class KeyInvalid(ProviderError):
    """401/403 or out of credit: another key may work, this one will not until it is changed."""

    code = "upstream_key_invalid"
    bench_key = True


class RequestInvalid(ProviderError):
    """Upstream rejected the request itself (bad parameter, context too long): do not retry."""

    code = "upstream_request_invalid"


def error_for_status(status: int, message: str, *, out_of_credit: bool = False) -> ProviderError:
    """Map an upstream HTTP status onto the taxonomy; both adapters share this table."""
    if out_of_credit or status in (401, 402, 403):
        return KeyInvalid(message, status=status)
    if status == 429:
        return UpstreamRateLimited(message, status=status)
    if status in (408, 409) or status >= 500:
        cls = UpstreamTimeout if status in (408, 504) else UpstreamServerError
        return cls(message, status=status)
    return RequestInvalid(message, status=status)


# Anything that looks like a provider credential, masked in messages from upstream.
_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove the given secrets and anything shaped like an API key from `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub("[redacted]", text)[:500]


# The gateway asks models to end their answer with this marker and a JSON list of
# follow-up questions (see gateway/suggestions.py); it is part of the seam so the
# demo responder can honour it too.
SUGGESTIONS_MARKER = "<<<SUGGESTIONS>>>"
