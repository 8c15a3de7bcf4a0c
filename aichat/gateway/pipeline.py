"""The request pipeline: resolve the route, try keys and providers in turn, stream, record.

Every upstream attempt becomes one usage record handed to `sink` (usage/ writes it later,
off the client's path). Failover happens only before the first delta has been received,
so nothing has reached the client yet.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aichat.providers.base import ChatRequest, Completion, Delta, Message, ProviderError, UpstreamTimeout, Usage

from . import suggestions as suggestions_mod
from .failover import counts_against_key, counts_against_provider, should_failover
from .routing import Route, Router
from .tokens import TokenCounter
from .upstreams import KeySlot, Upstream


class NoUpstreamAvailable(Exception):
    """Every candidate was skipped (circuits open, keys benched) or failed over."""

    def __init__(self, last_error: ProviderError | None):
        message = last_error.message if last_error else "no provider is available right now (circuits open)"
        super().__init__(message)
        self.last_error = last_error


# A BaseException, so the adapters' `except Exception` (which maps SDK errors onto the taxonomy) lets it
# through to the gateway, which records the attempt; whoever throws it (the server's stop) owns the waking.
class Interrupted(BaseException):
    """Thrown into a call waiting on upstream to end it with `error`: recorded as that error, never failed over."""

    def __init__(self, error: ProviderError):
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class CallContext:
    """Who asked, through what; copied into every usage record."""

    request_id: str
    endpoint: str
    site_domain: str = "unknown"
    caller: str | None = None
    suggestions: bool = False


@dataclass(slots=True)
class ChatResult:
    completion: Completion
    provider: str
    model: str
    usage: Usage
    suggestions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Attempt:
    """One try at one key of one provider; becomes one usage record."""

    number: int
    upstream: Upstream
    key: KeySlot
    model: str
    started: float = field(default_factory=time.perf_counter)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class Gateway:
    def __init__(self, upstreams: dict[str, Upstream], router: Router, sink: Callable[[dict], None],
                 max_attempts: int = 4, total_timeout: float = 120.0, counter: TokenCounter | None = None):
        self.upstreams = upstreams
        self.router = router
        self.sink = sink
        self.max_attempts = max_attempts
        self.total_timeout = total_timeout
        # Counts tokens only for calls upstream reported no usage for; the rule when no encodings are loaded.
        self.counter = counter or TokenCounter("")

    # --- JSON ---------------------------------------------------------------

    def complete(self, req: ChatRequest, ctx: CallContext) -> ChatResult:
        """One answer, failing over across keys and providers; raises NoUpstreamAvailable or RequestInvalid."""
        route, upstream_req = self._prepare(req, ctx)
        last_error = None
        for attempt in self._attempts(route):
            try:
                completion = attempt.upstream.adapter.complete(attempt.key.client, upstream_req, attempt.model)
            except ProviderError as err:
                last_error = err
                if not self._failed(attempt, err, req, ctx):
                    raise
                continue
            except Interrupted as stop:
                # Not upstream's fault: its health is left alone and no other provider is tried.
                self._record(attempt, req, ctx, error=stop.error)
                raise stop.error from None
            self._succeeded(attempt)
            usage = self._usage_of(completion, attempt, upstream_req)
            self._record(attempt, req, ctx, usage=usage, model_served=completion.model)
            content, follow_ups = (suggestions_mod.split(completion.content) if ctx.suggestions
                                   else (completion.content, []))
            completion.content = content
            return ChatResult(completion, attempt.upstream.name, completion.model, usage, follow_ups)
        raise NoUpstreamAvailable(last_error)

    # --- streams ------------------------------------------------------------

    def open_stream(self, req: ChatRequest, ctx: CallContext) -> StreamSession:
        """An upstream stream that has produced its first delta; failover happens only in here."""
        route, upstream_req = self._prepare(req, ctx)
        last_error = None
        for attempt in self._attempts(route):
            deltas = attempt.upstream.adapter.stream(attempt.key.client, upstream_req, attempt.model)
            try:
                first = next(deltas)
            except StopIteration:
                first = Delta("", "stop")
            except ProviderError as err:
                last_error = err
                deltas.close()
                if not self._failed(attempt, err, req, ctx):
                    raise
                continue
            return StreamSession(self, attempt, req, upstream_req, ctx, deltas, first)
        raise NoUpstreamAvailable(last_error)

    # --- deployment checks ---------------------------------------------------

    def probe(self, provider: str, ctx: CallContext, max_tokens: int = 5) -> Completion:
        """One tiny call to `provider` with its first usable key, recorded like any attempt; raises ProviderError."""
        # It only observes: no failover, and breakers and benched keys are left as live traffic set them.
        upstream = self.upstreams[provider]
        key = next((k for k in upstream.keys if k.usable()), None)
        if key is None:
            raise NoUpstreamAvailable(None)
        req = ChatRequest([Message("user", "Reply with the single word: ok")], model=upstream.default_model,
                          max_tokens=max_tokens)
        attempt = _Attempt(1, upstream, key, upstream.default_model)
        try:
            completion = upstream.adapter.complete(key.client, req, attempt.model)
        except ProviderError as err:
            self._record(attempt, req, ctx, error=err)
            raise
        self._record(attempt, req, ctx, usage=self._usage_of(completion, attempt, req), model_served=completion.model)
        return completion

    # --- the attempt loop's parts --------------------------------------------

    def _prepare(self, req: ChatRequest, ctx: CallContext) -> tuple[Route, ChatRequest]:
        """The route (UnknownModel before anything is sent) and the request as upstream gets it."""
        route = self.router.resolve(req.model)
        return route, suggestions_mod.with_instruction(req) if ctx.suggestions else req

    def _attempts(self, route: Route) -> Iterator[_Attempt]:
        """Candidate (provider, key, model) triples in failover order, at most max_attempts."""
        number = 0
        for step in self.router.plan(route):
            upstream = self.upstreams[step.provider]
            if not upstream.breaker.available():
                continue
            for key in upstream.rotation():
                if number >= self.max_attempts:
                    return
                # The provider's half-open probe is claimed only for a key that may go.
                if key.breaker.allow() and upstream.breaker.allow():
                    number += 1
                    yield _Attempt(number, upstream, key, step.model)

    def _failed(self, attempt: _Attempt, err: ProviderError, req: ChatRequest, ctx: CallContext) -> bool:
        """Update health, record the attempt, and say whether to try the next candidate."""
        if err.bench_key:
            attempt.key.bench(err.code)
        elif counts_against_key(err):
            attempt.key.breaker.record_failure()
        if counts_against_provider(err):
            attempt.upstream.breaker.record_failure()
        failover = should_failover(err)
        self._record(attempt, req, ctx, error=err, failed_over=failover)
        return failover

    def _usage_of(self, completion: Completion, attempt: _Attempt, sent: ChatRequest) -> Usage:
        """Upstream's counts when it sent them; otherwise an estimate of what was sent and answered."""
        return completion.usage or self.counter.estimate_usage(completion.model or attempt.model, sent.messages,
                                                               completion.content)

    @staticmethod
    def _succeeded(attempt: _Attempt) -> None:
        attempt.key.restore()
        attempt.key.breaker.record_success()
        attempt.upstream.breaker.record_success()

    def _record(self, attempt: _Attempt, req: ChatRequest, ctx: CallContext, *, usage: Usage | None = None,
                model_served: str | None = None, error: ProviderError | None = None, status: str | None = None,
                failed_over: bool = False, ttft: float | None = None) -> None:
        usage = usage or Usage(source="provider")
        self.sink({
            "request_id": ctx.request_id,
            "attempt": attempt.number,
            "site_domain": ctx.site_domain,
            "caller": ctx.caller,
            "endpoint": ctx.endpoint,
            "provider": attempt.upstream.name,
            "key_label": attempt.key.label,
            "model_requested": req.model,
            "model_served": model_served or attempt.model,
            "stream": req.stream,
            "status": status or ("error" if error else "success"),
            "http_status": error.status if error else 200,
            "error_code": error.code if error else None,
            "error_message": error.message if error else None,
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "total_tokens": usage.total_tokens,
            "usage_source": usage.source,
            "latency_ms": round((time.perf_counter() - attempt.started) * 1000, 2),
            "ttft_ms": round(ttft * 1000, 2) if ttft is not None else None,
            "failed_over": failed_over,
            "created_at": attempt.created_at,
        })


class StreamSession:
    """The rest of an opened stream. Iterate for deltas; `close()` ends it and records it exactly once.

    Iteration raises ProviderError when upstream fails mid-stream; the caller turns that into an
    error event. Closing before the end (the client went away) closes the upstream call.
    """

    def __init__(self, gateway: Gateway, attempt: _Attempt, req: ChatRequest, upstream_req: ChatRequest,
                 ctx: CallContext, deltas: Iterator[Delta], first: Delta):
        self.gateway = gateway
        self.attempt = attempt
        self.req = req
        self.upstream_req = upstream_req
        self.ctx = ctx
        self.provider = attempt.upstream.name
        self.model = first.model or attempt.model
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.suggestions: list[str] = []
        self._deltas = deltas
        self._first: Delta | None = first
        self._ttft = time.perf_counter() - attempt.started
        self._deadline = attempt.started + gateway.total_timeout
        self._delivered: list[str] = []  # upstream text as received, suggestions tail included
        self._filter = suggestions_mod.StreamFilter() if ctx.suggestions else None
        self._error: ProviderError | None = None
        self._ended = False  # upstream finished normally
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        """Content to forward, piece by piece, as it arrives."""
        try:
            if self._first is not None:
                first, self._first = self._first, None
                yield from self._take(first)
            for delta in self._deltas:
                yield from self._take(delta)
                if time.perf_counter() > self._deadline:
                    raise UpstreamTimeout("the answer took longer than the total timeout")
            self._ended = True
            if self._filter is not None:
                tail, self.suggestions = self._filter.finish()
                if tail:
                    yield tail
        except ProviderError as err:
            self._error = err
            raise

    def _take(self, delta: Delta) -> Iterator[str]:
        if delta.model:
            self.model = delta.model
        if delta.finish_reason:
            self.finish_reason = delta.finish_reason
        if delta.usage:
            self.usage = delta.usage
        if delta.content:
            self._delivered.append(delta.content)
            text = self._filter.feed(delta.content) if self._filter is not None else delta.content
            if text:
                yield text

    def end_with(self, err: ProviderError) -> None:
        """Record the stream as ended by `err` (the server is stopping) when it is closed."""
        self._error = err

    def final_usage(self) -> Usage:
        """Upstream's counts when it sent them; otherwise an estimate of what was delivered."""
        if self.usage is None:
            self.usage = self.gateway.counter.estimate_usage(self.model, self.upstream_req.messages,
                                                             "".join(self._delivered))
        return self.usage

    def close(self) -> None:
        """End the upstream call (if still open) and record the attempt; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._deltas.close()
        self.final_usage()
        gateway, attempt = self.gateway, self.attempt
        if self._error is not None:
            gateway._record(attempt, self.req, self.ctx, usage=self.usage, model_served=self.model,
                            error=self._error, ttft=self._ttft)
            if counts_against_provider(self._error):
                attempt.upstream.breaker.record_failure()
            return
        gateway._succeeded(attempt)
        status = "success" if self._ended else "cancelled"
        gateway._record(attempt, self.req, self.ctx, usage=self.usage, model_served=self.model,
                        status=status, ttft=self._ttft)
