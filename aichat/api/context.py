"""What the chat views share: the gateway, limits, and the call context of this request."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, g, request

from aichat.gateway import CallContext, Gateway

from .validation import Limits


def gateway() -> Gateway:
    return current_app.extensions["aichat.gateway"]


def limits() -> Limits:
    return current_app.extensions["aichat.limits"]


def call_context(endpoint: str, *, suggestions: bool = False) -> CallContext:
    return CallContext(request_id=g.request_id, endpoint=endpoint, site_domain=site_domain(),
                       caller=g.get("caller"), suggestions=suggestions)


def site_domain() -> str:
    """The browser page's host, from Origin (or Referer); `unknown` when neither is sent."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return "unknown"
    host = urlsplit(source).hostname
    return host[:255] if host else "unknown"
