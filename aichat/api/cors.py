"""CORS for the browser endpoint, per site and live: only the origins of an enabled site (and our own) get it.

The allowed origins are read from the Directory in force (aichat/tenancy/live.py) on every request, so a
site added, changed or disabled is answered accordingly after each process's next poll, without a restart.
An origin no enabled site lists gets its preflight refused with 403 JSON and no CORS headers, so the
browser never sends the request; the caller decorators refuse the request itself the same way.
"""
from __future__ import annotations

from flask import Flask, current_app, request

from aichat.limits.quota import RATELIMIT_HEADERS
from aichat.runtime import runtime_of
from aichat.tenancy import SiteSpec

from .callers import _own as own_origin
from .errors import ApiError

PREFIXES = ("/api/v1/ai-proxy/", "/api/v1/conversations")
ALLOW_METHODS = "GET, POST, PATCH, DELETE"
# What a page may send: JSON, a client key (a site's own backend), a request id, the site's publishable key, and
# its end user: the anonymous session, the signed user token, or the user a client key acts for.
ALLOW_HEADERS = ("Content-Type, Authorization, X-Request-ID, X-AIChat-Site, X-AIChat-Session, X-AIChat-User, "
                 "X-AIChat-End-User")
# What a page may read: the request id to quote, and when to retry after a 429 (OpenAI's header names).
EXPOSE_HEADERS = ", ".join(("X-Request-ID", "Retry-After", *RATELIMIT_HEADERS))
# Browsers keep an answered preflight this long; a site disabled meanwhile is still refused on the request itself.
MAX_AGE = "600"


def init_cors(app: Flask) -> None:
    app.before_request(_preflight)
    app.after_request(_headers)


def origin_site(origin: str) -> SiteSpec | None:
    """The site an Origin belongs to, as the caller decorators find it: the site listing it, or for our own
    origin (the demo page the gateway serves) the local site."""
    directory = runtime_of().directory
    site = directory.site_for_origin(origin)
    return directory.local_site if site is None and own_origin(origin) else site


def _preflight():
    """Answer a CORS preflight under PREFIXES before any view: 204 with the rules, or 403 JSON without them."""
    if (request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers
            or not request.path.startswith(PREFIXES)):
        return None
    origin = request.headers.get("Origin")
    if not origin:
        return None  # not a browser's cross-origin preflight
    site = origin_site(origin)
    if site is None:
        raise ApiError(403, "origin_not_allowed", f"origin {origin[:200]} is not allowed to call this endpoint")
    if not site.enabled:
        raise ApiError(403, "site_disabled", f"site {site.domain} is disabled")
    response = current_app.response_class(status=204)
    response.headers.update({"Access-Control-Allow-Methods": ALLOW_METHODS,
                             "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Max-Age": MAX_AGE})
    return response


def _headers(response):
    """Vary: Origin on every answer under PREFIXES (it depends on the Origin); the origin echoed when allowed."""
    if not request.path.startswith(PREFIXES):
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    site = origin_site(origin) if origin else None
    if site is not None and site.enabled:
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method != "OPTIONS":
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response
