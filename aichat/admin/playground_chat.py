"""The playground's chat: a console admin talks to the gateway as a browser page of a chosen site would.

The call takes the path a site's chat request takes (the site's preset, its limits and budgets, the
gateway's failover and accounting); only who calls differs. Its usage rows say so: endpoint
`playground` and caller `playground:<admin username>`, which the log explorer filters by.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from aichat.api import sse, validation
from aichat.api.callers import BROWSER, Caller
from aichat.api.errors import ApiError, stream_error
from aichat.gateway import StreamSession
from aichat.gateway.pricing import PriceBook
from aichat.lifecycle import Lifecycle
from aichat.providers.base import ChatRequest, ProviderError, Usage
from aichat.tenancy import Directory

ENDPOINT = "playground"
CALLER_PREFIX = "playground:"


def caller_name(username: str) -> str:
    """How usage rows name the playground's calls: `playground:<admin username>`."""
    return CALLER_PREFIX + username


def caller(directory: Directory, data: dict[str, Any], ip: str | None, username: str) -> Caller:
    """The caller the playground stands in for: a browser page of the site the body names (`site`).

    The admin counts as the site's end user `playground:<username>`, so per-user limits apply too."""
    domain = data.get("site")
    if not isinstance(domain, str) or not domain:
        raise ApiError(400, "missing_site", "choose a site: its preset, limits and budgets apply", param="site")
    site = directory.by_domain.get(domain)
    if site is None:
        raise ApiError(400, "unknown_site", f"no site has the domain {domain[:255]!r}", param="site")
    if not site.enabled:
        raise ApiError(403, "site_disabled", f"site {site.domain} is disabled", param="site")
    return Caller(BROWSER, site, None, None, ip, caller_name(username))


def request_of(data: dict[str, Any], limits: validation.Limits, upstreams: dict) -> ChatRequest:
    """The chat request the body asks for (always streamed); `upstream` pins the first upstream to try."""
    req, _options = validation.proxy_chat({**data, "stream": True, "suggestions": False}, limits, False)
    upstream = data.get("upstream")
    if upstream in (None, ""):
        return req
    if not isinstance(upstream, str) or upstream not in upstreams:
        raise ApiError(400, "unknown_upstream", f"no upstream is called {str(upstream)[:64]!r}", param="upstream")
    req.model = f"{upstream}/{req.model or upstreams[upstream].default_model}"
    return req


def events(session: StreamSession, lifecycle: Lifecycle, started: float, book: PriceBook | None,
           free: bool) -> Iterator[str]:
    """`delta` events as the browser API sends them, then `done` with the usage, cost, latency, time to first
    token and the upstream that answered; or an `error` event."""
    ttft_ms = _ms(time.perf_counter() - started)  # the stream is open: its first delta has arrived
    relay = lifecycle.relay(session)
    try:
        for text in relay:
            yield sse.DELTA_FRAMES.of(text)
        usage = session.final_usage()
        cost, currency = cost_of(book, usage, session.model, free)
        yield sse.frame("done", {
            "id": session.ctx.request_id, "model": session.model, "provider": session.provider,
            "upstream": session.provider, "usage": usage_of(usage), "cost": None if cost is None else str(cost),
            "currency": currency, "latency_ms": _ms(time.perf_counter() - started), "ttft_ms": ttft_ms,
            "finish_reason": session.finish_reason,
        })
    except ProviderError as err:
        yield sse.frame("error", stream_error(err, session.ctx.request_id))
    finally:
        session.close()


def cost_of(book: PriceBook | None, usage: Usage, model: str | None, free: bool):
    """(cost, currency) as the usage writer will bill the call; the demo responder costs nothing."""
    if free:
        return 0, None
    if book is None:
        return None, None
    return book.cost(usage, model, datetime.now(timezone.utc))


def usage_of(usage: Usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def choices(directory: Directory, gateway) -> dict:
    """What the page offers: the sites, the upstreams and the models the gateway knows."""
    return {"sites": sorted(directory.by_domain), "upstreams": list(gateway.upstreams),
            "models": gateway.router.known_models()}
