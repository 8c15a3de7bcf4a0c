"""The request pipeline: resolve the plan, try upstreams and their keys in turn, answer or open a stream.

Every upstream attempt records itself once (gateway/attempt.py) through `sink`; usage/ writes
it later, off the client's path. Failover happens only before the first delta has been received,
so nothing has reached the client yet. When the whole call is over, the end-of-call hooks hear
how it ended.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from aichat.providers.base import ChatRequest, Completion, Delta, Message, ProviderError, Usage

from . import suggestions as suggestions_mod
from .attempt import ERROR, SUCCESS, Attempt, AttemptRecord, CallContext, CallOutcome
from .routing import Route, Router
from .stream import StreamSession
from .tokens import TokenCounter
from .upstreams import Upstream

__all__ = ["CallContext", "ChatResult", "Gateway", "Interrupted", "NoUpstreamAvailable", "StreamSession"]


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
class ChatResult:
    completion: Completion
    provider: str  # the upstream's name
    model: str
    usage: Usage
    suggestions: list[str] = field(default_factory=list)


class Gateway:
    def __init__(self, upstreams: dict[str, Upstream], router: Router, sink: Callable[[AttemptRecord], None],
                 max_attempts: int = 4, total_timeout: float = 120.0, counter: TokenCounter | None = None):
        self.upstreams = upstreams
        self.router = router
        self.sink = sink
        self.max_attempts = max_attempts
        self.total_timeout = total_timeout
        # Counts tokens only for calls upstream reported no usage for; the rule when no encodings are loaded.
        self.counter = counter or TokenCounter("")
        # Told how each call ended, once, after its last attempt (conversations and budgets attach here).
        self.call_end_hooks: list[Callable[[CallOutcome], None]] = []

    # --- JSON ---------------------------------------------------------------

    def complete(self, req: ChatRequest, ctx: CallContext) -> ChatResult:
        """One answer, failing over across keys and upstreams; raises NoUpstreamAvailable or RequestInvalid."""
        plan, upstream_req = self._prepare(req, ctx)
        last_error = None
        for attempt in self._attempts(plan, req, ctx):
            try:
                completion = attempt.upstream.adapter.complete(attempt.key.client, upstream_req, attempt.model)
            except ProviderError as err:
                last_error = err
                if not attempt.failed(err):
                    self.call_ended(ctx, req, ERROR, attempt.upstream.name, attempt.model, None, None, err)
                    raise
                continue
            except Interrupted as stop:
                # Not upstream's fault: its health is left alone and no other upstream is tried.
                attempt.interrupted(stop.error)
                self.call_ended(ctx, req, ERROR, attempt.upstream.name, attempt.model, None, None, stop.error)
                raise stop.error from None
            usage = self.usage_of(completion, attempt.model, upstream_req)
            attempt.succeeded(usage, completion.model)
            content, follow_ups = (suggestions_mod.split(completion.content) if ctx.suggestions
                                   else (completion.content, []))
            completion.content = content
            self.call_ended(ctx, req, SUCCESS, attempt.upstream.name, completion.model, usage, content)
            return ChatResult(completion, attempt.upstream.name, completion.model, usage, follow_ups)
        self.call_ended(ctx, req, ERROR, None, None, None, None, last_error)
        raise NoUpstreamAvailable(last_error)

    # --- streams ------------------------------------------------------------

    def open_stream(self, req: ChatRequest, ctx: CallContext) -> StreamSession:
        """An upstream stream that has produced its first delta; failover happens only in here."""
        plan, upstream_req = self._prepare(req, ctx)
        last_error = None
        for attempt in self._attempts(plan, req, ctx):
            deltas = attempt.upstream.adapter.stream(attempt.key.client, upstream_req, attempt.model)
            try:
                first = next(deltas)
            except StopIteration:
                first = Delta("", "stop")
            except ProviderError as err:
                last_error = err
                deltas.close()
                if not attempt.failed(err):
                    self.call_ended(ctx, req, ERROR, attempt.upstream.name, attempt.model, None, None, err)
                    raise
                continue
            return StreamSession(self, attempt, upstream_req, deltas, first)
        self.call_ended(ctx, req, ERROR, None, None, None, None, last_error)
        raise NoUpstreamAvailable(last_error)

    # --- deployment checks ---------------------------------------------------

    def probe(self, upstream_name: str, ctx: CallContext, max_tokens: int = 5) -> Completion:
        """One tiny call to an upstream with its first usable key, recorded like any attempt; raises ProviderError."""
        # It only observes: no failover, and breakers and benched keys are left as live traffic set them.
        upstream = self.upstreams[upstream_name]
        key = next((k for k in upstream.keys if k.usable()), None)
        if key is None:
            raise NoUpstreamAvailable(None)
        req = ChatRequest([Message("user", "Reply with the single word: ok")], model=upstream.default_model,
                          max_tokens=max_tokens)
        attempt = Attempt(1, upstream, key, upstream.default_model, req, ctx, self.sink)
        try:
            completion = upstream.adapter.complete(key.client, req, attempt.model)
        except ProviderError as err:
            attempt.record(ERROR, None, None, error=err)
            raise
        attempt.record(SUCCESS, self.usage_of(completion, attempt.model, req), completion.model)
        return completion

    # --- the attempt loop's parts --------------------------------------------

    def _prepare(self, req: ChatRequest, ctx: CallContext) -> tuple[tuple[Route, ...], ChatRequest]:
        """The plan (UnknownModel before anything is sent) and the request as upstream gets it."""
        plan = self.router.plan_for(req.model)
        if ctx.allows is not None:  # the fallback chain's other models only where the caller may use them
            plan = tuple(step for step in plan if step.model == plan[0].model or ctx.allows(step.model))
        return plan, suggestions_mod.with_instruction(req) if ctx.suggestions else req

    def _attempts(self, plan: tuple[Route, ...], req: ChatRequest, ctx: CallContext) -> Iterator[Attempt]:
        """Candidate (upstream, key, model) attempts in failover order, at most max_attempts."""
        number = 0
        for step in plan:
            upstream = self.upstreams[step.upstream]
            if not upstream.breaker.available():
                continue
            for key in upstream.rotation():
                if number >= self.max_attempts:
                    return
                # The upstream's half-open probe is claimed only for a key that may go.
                if key.breaker.allow() and upstream.breaker.allow():
                    number += 1
                    yield Attempt(number, upstream, key, step.model, req, ctx, self.sink)

    def usage_of(self, completion: Completion, model: str, sent: ChatRequest) -> Usage:
        """Upstream's counts when it sent them; otherwise an estimate of what was sent and answered."""
        return completion.usage or self.counter.estimate_usage(completion.model or model, sent.messages,
                                                               completion.content)

    def call_ended(self, ctx: CallContext, req: ChatRequest, status: str, upstream: str | None, model: str | None,
                   usage: Usage | None, content: str | None, error: ProviderError | None = None) -> None:
        """Tell the end-of-call hooks how the call ended; nothing is built when none is listening."""
        if self.call_end_hooks:
            outcome = CallOutcome(ctx, req, status, upstream, model, usage, content, error)
            for hook in self.call_end_hooks:
                hook(outcome)
