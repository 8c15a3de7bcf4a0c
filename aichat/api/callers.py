"""Who is calling a chat surface, resolved once by a decorator before the view runs: a typed `Caller` in `g.caller`.

Per-caller limits are decorators under these (Flask-Limiter's way): by the time they run, the
caller is known. Views never authenticate from their arguments.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, g, request

from .auth import bearer_token, client_label
from .errors import ApiError

BROWSER, CLIENT_KEY = "browser", "client_key"


@dataclass(frozen=True, slots=True)
class Caller:
    """A browser page (with the Origin it sent, if any) or a server holding a client key (with its label)."""

    kind: str
    label: str | None = None  # the client key's label; safe to log
    origin: str | None = None

    @property
    def holds_key(self) -> bool:
        return self.kind == CLIENT_KEY


def client_key_required(view):
    """401 in the surface's error shape unless `Authorization: Bearer <key>` carries a configured client key."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = bearer_token()
        if not token:
            raise ApiError(401, "missing_api_key", "send your API key as 'Authorization: Bearer <key>'")
        label = client_label(token)
        if label is None:
            raise ApiError(401, "invalid_api_key", "the API key is not valid")
        g.caller = Caller(CLIENT_KEY, label, request.headers.get("Origin"))
        return view(*args, **kwargs)

    return wrapper


def browser_or_client_key(view):
    """A browser from an allowed origin, or a server with a client key (which then only identifies it).

    The browser endpoint stays open without a key; an Origin that is not allowed gets 403 whoever sends it.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        origin = request.headers.get("Origin")
        if origin and not origin_allowed(origin):
            raise ApiError(403, "origin_not_allowed",
                           f"origin {origin} is not allowed; add it to AICHAT_ALLOWED_ORIGINS")
        token = bearer_token()
        label = client_label(token) if token else None
        g.caller = Caller(CLIENT_KEY, label, origin) if label is not None else Caller(BROWSER, None, origin)
        return view(*args, **kwargs)

    return wrapper


def origin_allowed(origin: str) -> bool:
    """A configured site, or our own origin (the demo page served by the gateway itself)."""
    if origin.rstrip("/") in current_app.config["AICHAT_ALLOWED_ORIGINS"]:
        return True
    try:
        return urlsplit(origin).netloc == request.host
    except ValueError:  # malformed (an unclosed IPv6 bracket): not an origin we know
        return False


def caller_label() -> str | None:
    """The label of this request's client key, if a chat caller holds one."""
    caller = g.get("caller")
    return caller.label if caller is not None else None
