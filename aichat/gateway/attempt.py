"""One upstream attempt: the try at one key of one upstream, which updates health and records itself, once."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aichat.providers.base import ChatRequest, ProviderError, Usage

from .failover import counts_against_key, counts_against_provider, should_failover
from .upstreams import KeySlot, Upstream

SUCCESS, ERROR, CANCELLED = "success", "error", "cancelled"


@dataclass(slots=True)
class CallContext:
    """Who asked, through what; copied into every attempt's record."""

    request_id: str
    endpoint: str
    site_domain: str = "unknown"
    caller: str | None = None
    suggestions: bool = False
    site_id: int | None = None  # the site (aichat/tenancy) the caller belongs to; site_domain is its domain
    hold: object | None = None  # what the end-of-call hooks settle for this call (its limits reservation)
    # The models this caller may be answered by (a client key's models, a site's preset); None: any. Failover
    # never moves the call to another model outside them.
    allows: Callable[[str], bool] | None = None
    conversation_id: str | None = None  # the conversation (c_…) the call continues: its usage rows name it
    turn: object | None = None  # what the end-of-call hooks store in that conversation (aichat/chat/turns.py)


@dataclass(slots=True)
class AttemptRecord:
    """What one attempt leaves behind: one usage row, and the metrics' observation of it."""

    request_id: str
    attempt: int
    site_domain: str
    caller: str | None
    endpoint: str
    upstream: str  # the upstream's name
    provider: str  # its kind
    key_label: str
    model_requested: str | None
    model_served: str | None
    stream: bool
    status: str  # success | error | cancelled
    http_status: int | None
    error_code: str | None
    error_message: str | None
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    total_tokens: int
    usage_source: str
    latency_ms: float
    ttft_ms: float | None
    failed_over: bool
    created_at: datetime
    site_id: int | None = None
    conversation_id: str | None = None

    def as_row(self) -> dict:
        """The record as a usage row's column values."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Attempt:
    """One try; `succeeded`, `failed` or `interrupted` ends it, updating health and recording it exactly once."""

    number: int
    upstream: Upstream
    key: KeySlot
    model: str
    req: ChatRequest  # as the caller sent it
    ctx: CallContext
    sink: Callable[[AttemptRecord], None]
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    recorded: bool = False

    def succeeded(self, usage: Usage, model_served: str | None, *, status: str = SUCCESS,
                  ttft: float | None = None) -> None:
        """Upstream answered (a stream the client left early is `cancelled`, still a healthy upstream)."""
        self.key.restore()
        self.key.breaker.record_success()
        self.upstream.breaker.record_success()
        self.record(status, usage, model_served, ttft=ttft)

    def failed(self, err: ProviderError, *, usage: Usage | None = None, model_served: str | None = None,
               ttft: float | None = None, mid_stream: bool = False) -> bool:
        """Upstream failed: count it against the key and upstream; True when the next candidate should be tried."""
        if mid_stream:
            # Failover is over once the client has bytes; only the endpoint's own health is told.
            failover = False
            if counts_against_provider(err):
                self.upstream.breaker.record_failure()
        else:
            if err.bench_key:
                self.key.bench(err.code)
            elif counts_against_key(err):
                self.key.breaker.record_failure()
            if counts_against_provider(err):
                self.upstream.breaker.record_failure()
            failover = should_failover(err)
        self.record(ERROR, usage, model_served, error=err, failed_over=failover, ttft=ttft)
        return failover

    def interrupted(self, err: ProviderError, *, usage: Usage | None = None, model_served: str | None = None,
                    ttft: float | None = None) -> None:
        """Ended from outside (the server is stopping): recorded as `err`, upstream's health left alone."""
        self.record(ERROR, usage, model_served, error=err, ttft=ttft)

    def record(self, status: str, usage: Usage | None, model_served: str | None, *,
                error: ProviderError | None = None, failed_over: bool = False, ttft: float | None = None) -> None:
        """Record the attempt as it ended, without telling health (the other ends call this); once only."""
        if self.recorded:
            return
        self.recorded = True
        usage = usage or Usage(source="provider")
        ctx = self.ctx
        self.sink(AttemptRecord(
            ctx.request_id, self.number, ctx.site_domain, ctx.caller, ctx.endpoint,
            self.upstream.name, self.upstream.kind, self.key.label, self.req.model, model_served or self.model,
            self.req.stream, status, error.status if error else 200,
            error.code if error else None, error.message if error else None,
            usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens, usage.reasoning_tokens,
            usage.total_tokens, usage.source,
            round((time.perf_counter() - self.started) * 1000, 2),
            round(ttft * 1000, 2) if ttft is not None else None,
            failed_over, self.created_at, ctx.site_id, ctx.conversation_id,
        ))


@dataclass(slots=True)
class CallOutcome:
    """How a whole call ended (after every attempt): what the end-of-call hooks are told."""

    ctx: CallContext
    req: ChatRequest
    status: str  # success | error | cancelled
    upstream: str | None
    model: str | None
    usage: Usage | None
    content: str | None  # the answer as the client got it (suggestions tail removed); None on failure
    error: ProviderError | None = None
