"""What the chat views share: the gateway, limits, the lifecycle, and the call context of this request."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, request

from aichat.gateway import CallContext, Gateway
from aichat.lifecycle import Lifecycle
from aichat.tenancy import LOCAL_DOMAIN

from .callers import caller_label
from .validation import Limits
from aichat.runtime import runtime_of


def gateway() -> Gateway:
    return runtime_of().gateway


def lifecycle() -> Lifecycle:
    return runtime_of().lifecycle


def limits() -> Limits:
    return runtime_of().limits


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
