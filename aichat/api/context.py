"""What the chat views share: the gateway, limits, the lifecycle, and the call context of this request."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, request

from aichat.gateway import CallContext, Gateway
from aichat.lifecycle import Lifecycle
from aichat.providers.base import ChatRequest
from aichat.tenancy import LOCAL_DOMAIN
from aichat.tenancy.preset import apply_model_scope, apply_preset

from .callers import BROWSER, caller_label
from .validation import Limits
from aichat.runtime import runtime_of


def gateway() -> Gateway:
    return runtime_of().gateway


def lifecycle() -> Lifecycle:
    return runtime_of().lifecycle


def limits() -> Limits:
    return runtime_of().limits


def scoped(req: ChatRequest) -> ChatRequest:
    """The request within what its caller may ask: a browser gets its site's preset; a server (the site's own
    backend) is bound only by its key's models."""
    caller = g.caller
    if caller.kind == BROWSER:
        return apply_preset(req, caller.site.preset, limits().max_tokens)
    return apply_model_scope(req, model_scope(), caller.site.preset.default_model)


def model_scope() -> tuple[str, ...]:
    """The models a client key caller may use: its key's, else its site's allowed models (empty: every one)."""
    caller = g.caller
    return caller.key.models or caller.site.preset.allowed_models


def suggestions(asked: bool) -> bool:
    """Follow-up suggestions for this call: as asked, unless a browser's site turned them off."""
    caller = g.caller
    return asked and (caller.kind != BROWSER or caller.site.preset.suggestions)


def call_context(endpoint: str, *, suggestions: bool = False, site: str | None = None) -> CallContext:
    """The context of this call; `site` is an explicit site_domain of a local key holder, which wins."""
    return CallContext(request_id=g.request_id, endpoint=endpoint, site_domain=site or site_domain(),
                       caller=caller_label(), suggestions=suggestions)


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
