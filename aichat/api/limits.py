"""Limits and budgets on the chat surfaces: a decorator under the caller decorator, and the settling hook.

The decorator counts the request against its site's and client key's limits before the view runs (so
nothing is sent upstream for a refused request: 429 in the surface's shape, naming the limit), adds
OpenAI's x-ratelimit-* headers to the answer, and gives the reservation back when the view fails
before the call. The gateway's end-of-call hook settles each call with its real tokens and exact cost.
"""
from __future__ import annotations

import functools
import logging
from contextlib import nullcontext
from datetime import datetime, timezone
from decimal import Decimal

from flask import Flask, current_app, g, has_app_context, request

from aichat.gateway.attempt import CallOutcome
from aichat.gateway.tokens import estimate_tokens
from aichat.providers.base import Usage
from aichat.gateway import UnknownModel
from aichat.limits import Estimate, LimitExceeded, MemoryCounters, Quota, Windows
from aichat.limits.plan import BUDGET, address_limits
from aichat.runtime import runtime_of
from aichat.usage.days import usage_zone

from .errors import limit_exceeded

log = logging.getLogger(__name__)
DEFAULT_RATE_LIMIT = "30/minute"


def within_limits(view):
    """429 (with Retry-After) when the request does not fit a limit of its site or key; counted otherwise."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        caller = g.caller
        quota = runtime_of().quota
        try:
            reservation = quota.reserve(caller.site, caller.key, caller.ip, caller.end_user,
                                        lambda: estimate(caller.site))
        except LimitExceeded as exc:
            raise limit_exceeded(exc) from None
        if reservation is None:
            return view(*args, **kwargs)
        g.reservation = reservation
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            quota.release(reservation)  # refused before or by upstream: nothing used (settled already: no-op)
            raise
        if not response.is_streamed:
            quota.release(reservation)  # a view that answered without calling upstream; no-op once settled
        response.headers.update(reservation.headers())
        return response

    return wrapper


def quota_view(quota: Quota, directory, domain: str | None = None) -> dict:
    """Every site with limits (or the one named) and its client keys with limits: used and left in each window."""
    sites = []
    for site in directory.sites.values():
        if domain is not None and site.domain != domain:
            continue
        keys = [{"prefix": key.prefix, "name": key.name, "limits": quota.view(site, key)}
                for key in directory.keys.values() if key.site_id == site.id and key.limits.any and not key.revoked]
        if site.limits.any or keys:
            sites.append({"site_domain": site.domain, "limits": quota.view(site), "keys": keys})
    shared = getattr(quota.store, "shared", False)
    return {"scope": "shared" if shared else "worker_process", "sites": sites}


def estimate(site) -> Estimate:
    """The request's tokens as the gateway estimates prompts, plus the completion it may ask for, and their cost
    at the price of the model it will be sent to first.

    Read from the raw body (parsed once, kept by Flask for the view): a body the view will refuse costs
    an estimate that is given back.
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return Estimate()
    prompt = 0
    messages = data.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            prompt += estimate_tokens(content) + 4
    if isinstance(data.get("message"), str):  # a conversation's new message (its stored turns are not read here)
        prompt += estimate_tokens(data["message"]) + 4
    asked = data.get("max_tokens", data.get("max_completion_tokens"))
    if not (isinstance(asked, int) and not isinstance(asked, bool) and asked > 0):
        asked = site.preset.max_tokens or current_app.config["AICHAT_LIMITS_COMPLETION_ESTIMATE"]
    model = data.get("model") if isinstance(data.get("model"), str) else site.preset.default_model
    cost, currency = _price(Usage(prompt_tokens=prompt, completion_tokens=asked), model)
    return Estimate(prompt + asked, cost, currency)


def _price(usage: Usage, model: str | None):
    """(cost, currency) of `usage` on the first upstream that would serve `model`; (None, None) when not known.

    The prices are the ones the usage writer loaded last: the request never reads the table for this."""
    runtime = runtime_of()
    book = runtime.prices.current() if runtime.prices is not None else None
    if book is None:
        return None, None
    gateway = runtime.gateway
    try:
        route = gateway.router.plan_for(model)[0]
    except UnknownModel:
        return None, None  # the view answers 404
    if gateway.upstreams[route.upstream].kind == "demo":
        return Decimal(0), None
    return book.cost(usage, route.model, datetime.now(timezone.utc))


def init_limits(app: Flask) -> None:
    """The app's Quota on memory or Redis storage (its calls are settled by `settler`, an end-of-call hook),
    with the gateway's limits per client address (AICHAT_RATE_LIMIT)."""
    try:
        per_address = address_limits(app.config["AICHAT_RATE_LIMIT"])
    except ValueError:
        # `flask verify` fails on it; meanwhile the default holds rather than no limit at all.
        log.error("AICHAT_RATE_LIMIT %r is not a limit like 30/minute: %s is used", app.config["AICHAT_RATE_LIMIT"],
                  DEFAULT_RATE_LIMIT)
        per_address = address_limits(DEFAULT_RATE_LIMIT)
    memory = MemoryCounters()
    store = memory
    if app.config["REDIS_URL"]:
        from aichat.limits.shared import RedisCounters

        store = RedisCounters(app.config["REDIS_URL"], app.config["AICHAT_REDIS_PREFIX"],
                              app.config["AICHAT_REDIS_TIMEOUT"], runtime_of(app).redis, memory)
    runtime = runtime_of(app)
    runtime.quota = Quota(store, Windows(usage_zone(app.config)), per_address=per_address)


def settler(app: Flask, quota: Quota):
    """The end-of-call hook: real tokens and exact cost for a call that holds a reservation."""

    def settle(outcome: CallOutcome) -> None:
        reservation = outcome.ctx.hold
        if reservation is None or reservation.done:
            return
        try:
            if outcome.usage is None:
                quota.release(reservation)
                return
            cost, currency = _cost(app, outcome) if any(c.code == BUDGET for c in reservation.counters) else (None,
                                                                                                            None)
            quota.settle(reservation, outcome.usage.total_tokens, cost, currency)
        except Exception:  # noqa: BLE001 - the answer is the caller's already; the window forgets in time
            log.exception("settling the limits of request %s failed", outcome.ctx.request_id)

    return settle


def _cost(app: Flask, outcome: CallOutcome):
    """(cost, currency) of the call at today's price, as the usage writer will bill it; (None, None) unpriced."""
    from aichat.usage.costing import price_cache

    upstream = runtime_of(app).gateway.upstreams.get(outcome.upstream or "")
    if upstream is not None and upstream.kind == "demo":
        return None, None  # the local demo responder costs nothing
    # A stream ends after its response, outside the request: the price table is read in the app's context.
    with nullcontext() if has_app_context() else app.app_context():
        book = price_cache().book()
    return book.cost(outcome.usage, outcome.model, datetime.now(timezone.utc))
