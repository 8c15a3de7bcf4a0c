"""What the chat views share: the gateway, limits, the lifecycle, and the call context of this request."""
from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import g, request

from aichat.chat.turns import Turn
from aichat.gateway import CallContext, Gateway
from aichat.gateway.routing import Router
from aichat.lifecycle import Lifecycle
from aichat.providers.base import ChatRequest
from aichat.tenancy import LOCAL_DOMAIN, ClientKeySpec
from aichat.tenancy.preset import apply_preset

from .callers import BROWSER, caller_label
from .errors import ApiError
from .validation import Limits
from aichat.runtime import runtime_of


def gateway() -> Gateway:
    return runtime_of().gateway


def lifecycle() -> Lifecycle:
    return runtime_of().lifecycle


def limits() -> Limits:
    return runtime_of().limits


def with_preset(req: ChatRequest) -> ChatRequest:
    """A browser's request as its site's preset shapes it (400 naming the rule when outside it); a server's as
    sent: a client key is the site's own backend, bound only by its models (check_model)."""
    caller = g.caller
    if caller.kind != BROWSER:
        return req
    router = gateway().router
    return apply_preset(req, caller.site.preset, limits().max_tokens, lambda model: model_names(router, model))


def suggestions(asked: bool) -> bool:
    """Follow-up suggestions for this call: as asked, unless a browser's site turned them off."""
    caller = g.caller
    return asked and (caller.kind != BROWSER or caller.site.preset.suggestions)


def call_context(endpoint: str, *, suggestions: bool = False, site: str | None = None,
                 turn: Turn | None = None, caller: str | None = None) -> CallContext:
    """The context of this call; `site` is an explicit site_domain of a local key holder, which wins; `turn` the
    conversation turn the call continues (its usage rows name the conversation); `caller` names a caller that
    holds no key (the console's playground), else its key's label names it."""
    # The call is about to go upstream: first let the worker's other connections have a turn. Under gevent a
    # request otherwise runs from reading its body to its upstream send without yielding, and a busy worker
    # serves the connections whose requests arrive back to back while others wait: at 32 connections the p99
    # was 0.7-2.7 s without this yield and 0.15-0.45 s with it (bench/bench.py, c=32). Elsewhere it costs ~1 µs.
    time.sleep(0)
    return CallContext(request_id=g.request_id, endpoint=endpoint, site_domain=site or site_domain(),
                       site_id=g.caller.site.id, caller=caller or caller_label(), suggestions=suggestions,
                       hold=g.get("reservation"), allows=_model_policy(g.caller),
                       conversation_id=turn.conversation_id if turn is not None else None, turn=turn)


def _model_policy(caller) -> Callable[[str], bool] | None:
    """Which models may answer this caller, when failover would pick one: its key's, or its site's preset's."""
    if caller.key is not None:
        return caller.key.allows_model if caller.key.models else None
    preset = caller.site.preset
    return preset.allows_model if caller.kind == BROWSER and preset.allowed_models else None


def check_model(model: str | None) -> None:
    """403 when the caller's client key may not use `model` (or, with none asked, the default model); a key
    without a list of models may use every model. Checked before anything is sent upstream."""
    key = g.caller.key
    if key is None or not key.models:
        return
    router = gateway().router
    name = model or router.default_model
    if not key_allows(key, router, name):
        raise ApiError(403, "model_not_allowed", f"this API key may not use model {name!r}; it may use "
                                                 f"{', '.join(key.models)}", param="model")


def key_allows(key: ClientKeySpec, router: Router, name: str) -> bool:
    """May `key` use model `name`? An alias counts as the model it stands for, `upstream/model` as the model."""
    return any(key.allows_model(n) for n in model_names(router, name))


def model_names(router: Router, name: str) -> tuple[str, ...]:
    """The names a requested model goes by: itself, the model its alias stands for, the model of `upstream/model`."""
    return tuple(n for n in (name, router.aliases.get(name, name), name.partition("/")[2]) if n)


def site_domain() -> str:
    """The caller's site's domain; for the local site, the page's host as before sites existed (from Origin or
    Referer; `unknown` when neither is sent), so deployments that list AICHAT_ALLOWED_ORIGINS keep their split."""
    caller = g.get("caller")
    if caller is not None and caller.site.domain != LOCAL_DOMAIN:
        return caller.site.domain
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return "unknown"
    try:
        host = urlsplit(source).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket: no host to bill
        return "unknown"
    return host[:255] if host else "unknown"


def note_served(provider: str, model: str) -> None:
    """Who answered this request, for its log line and metrics (`g.served`)."""
    g.served = (provider, model)
