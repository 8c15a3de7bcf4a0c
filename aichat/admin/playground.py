"""`/admin/playground`: chat through the gateway from the console, streamed, under a chosen site's preset and
limits; every attempt is billed and logged like a site's (playground_chat.py)."""
from __future__ import annotations

import functools
import time

from flask import g, render_template, request
from flask_login import current_user, login_required

from aichat.api import context, sse, validation
from aichat.api.limits import within_limits
from aichat.runtime import runtime_of
from aichat.usage.costing import price_cache

from . import playground_chat as chat
from .roles import role_required
from .views import bp


@bp.get("/playground")
@login_required
def playground_index():
    return render_template("admin/playground/index.html", **chat.choices(runtime_of().directory, context.gateway()))


def as_site(view):
    """The call stands in for a browser page of the site its body names (`g.caller`), for the limits below."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        data = validation.json_body(request)
        g.caller = chat.caller(runtime_of().directory, data, request.remote_addr, current_user.username)
        return view(*args, **kwargs)

    return wrapper


@bp.post("/playground/chat")
@role_required("admin")  # a viewer may not spend money
@as_site
@within_limits
def playground_chat():
    """One streamed chat turn as SSE: `delta` events, then `done` (usage, cost, latency, TTFT, upstream)."""
    data = validation.json_body(request)
    gateway = context.gateway()
    req = context.with_preset(chat.request_of(data, context.limits(), gateway.upstreams))
    ctx = context.call_context(chat.ENDPOINT, site=g.caller.site.domain, caller=chat.caller_name(current_user.username))
    book = price_cache().book()  # read here, in the request: the stream runs after it
    started = time.perf_counter()
    session = gateway.open_stream(req, ctx)
    context.note_served(session.provider, session.model)
    free = gateway.upstreams[session.provider].kind == "demo"
    return sse.response(chat.events(session, context.lifecycle(), started, book, free), session.close)
