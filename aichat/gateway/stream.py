"""The rest of an opened stream: deltas forwarded as they arrive, then the attempt ends and records itself."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aichat.providers.base import ChatRequest, Delta, ProviderError, UpstreamTimeout, Usage

from . import suggestions as suggestions_mod
from .attempt import CANCELLED, ERROR, SUCCESS, Attempt, CallContext

if TYPE_CHECKING:
    from .pipeline import Gateway


class StreamSession:
    """Iterate for the text to forward; `close()` ends it and records it exactly once.

    Iteration raises ProviderError when upstream fails mid-stream; the caller turns that into an
    error event. Closing before the end (the client went away) closes the upstream call.
    """

    def __init__(self, gateway: Gateway, attempt: Attempt, upstream_req: ChatRequest, deltas: Iterator[Delta],
                 first: Delta):
        self.gateway = gateway
        self.attempt = attempt
        self.upstream_req = upstream_req
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
        self._filter = suggestions_mod.StreamFilter() if attempt.ctx.suggestions else None
        self._error: ProviderError | None = None
        self._interrupted = False  # ended from outside (the server's stop), not by upstream
        self._ended = False  # upstream finished normally
        self._closed = False

    @property
    def ctx(self) -> CallContext:
        return self.attempt.ctx

    @property
    def req(self) -> ChatRequest:
        return self.attempt.req

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
            if self._error is None:
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
        """Record the stream as ended by `err` from outside (the server is stopping) when it is closed."""
        self._error = err
        self._interrupted = True

    def final_usage(self) -> Usage:
        """Upstream's counts when it sent them; otherwise an estimate of what was delivered."""
        if self.usage is None:
            self.usage = self.gateway.counter.estimate_usage(self.model, self.upstream_req.messages,
                                                             "".join(self._delivered))
        return self.usage

    def close(self) -> None:
        """End the upstream call (if still open) and end the attempt; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._deltas.close()
        usage = self.final_usage()
        attempt, err = self.attempt, self._error
        if err is None:
            status = SUCCESS if self._ended else CANCELLED
            attempt.succeeded(usage, self.model, status=status, ttft=self._ttft)
        elif self._interrupted:
            attempt.interrupted(err, usage=usage, model_served=self.model, ttft=self._ttft)
        else:
            attempt.failed(err, usage=usage, model_served=self.model, ttft=self._ttft, mid_stream=True)
        if self.gateway.call_end_hooks:  # the delivered text is joined only for someone listening
            self.gateway.call_ended(self.ctx, self.req, ERROR if err else status, self.provider, self.model, usage,
                                    self._content(), err)

    def _content(self) -> str:
        text = "".join(self._delivered)
        return suggestions_mod.split(text)[0] if self._filter is not None else text
