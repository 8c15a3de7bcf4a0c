"""`/api/v1/ai-proxy`: the chat endpoint site frontends call from the browser."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, current_app, g, jsonify, request

from aichat.extensions import csrf
from aichat.gateway import CallContext, ChatResult, StreamSession
from aichat.lifecycle import Lifecycle
from aichat.providers.base import ProviderError

from . import context, conversation_chat, sse, validation
from .callers import browser_or_client_key
from .errors import stream_error
from .limits import within_limits

bp = Blueprint("proxy", __name__, url_prefix="/api/v1/ai-proxy")
csrf.exempt(bp)  # JSON from browsers on other sites, no cookies: origins are checked instead


@bp.post("/chat")
@browser_or_client_key
@within_limits
def chat():
    """One chat turn: JSON, or SSE events when `stream` is true."""
    data = validation.json_body(request)
    if "conversation_id" in data:  # the stored turns, then the new message, under the site's preset
        req, options, turn = conversation_chat.prepare(data)
    else:
        req, options = validation.proxy_chat(data, context.limits(), current_app.config["AICHAT_SUGGESTIONS"])
        context.check_model(req.model)  # a client key's models
        req, turn = context.with_preset(req), None  # a browser's site preset
    site = validation.site_domain(data, allowed=g.caller.names_sites)
    ctx = context.call_context("ai-proxy", suggestions=context.suggestions(options.suggestions), site=site,
                               turn=turn)
    if req.stream:
        session = context.gateway().open_stream(req, ctx)
        context.note_served(session.provider, session.model)
        finish = conversation_chat.finishes(turn)
        return sse.response(_events(session, context.lifecycle(), finish), session.close)
    with context.lifecycle().watch_call():
        result = context.gateway().complete(req, ctx)
    context.note_served(result.provider, result.model)
    return jsonify(_body(result, ctx))


def _body(result: ChatResult, ctx: CallContext) -> dict:
    return {
        "id": ctx.request_id,
        "content": result.completion.content,
        "model": result.model,
        "provider": result.provider,
        "suggestions": result.suggestions,
        "usage": _usage(result.usage),
        "finish_reason": result.completion.finish_reason,
        **conversation_chat.ids(ctx.turn),
    }


def _events(session: StreamSession, lifecycle: Lifecycle, finish: bool = False) -> Iterator[str]:
    """`delta` events as text arrives, then one `done` event, or an `error` event (upstream failed, or stopping).
    With `finish`, a client that leaves does not end the answer: it is read to its end (and stored)."""
    request_id = session.ctx.request_id
    relay = lifecycle.relay(session)
    try:
        for text in relay:
            yield sse.DELTA_FRAMES.of(text)
        yield sse.frame("done", {
            "id": request_id,
            "model": session.model,
            "provider": session.provider,
            "usage": _usage(session.final_usage()),
            "suggestions": session.suggestions,
            "finish_reason": session.finish_reason,
            **conversation_chat.ids(session.ctx.turn),
        })
    except ProviderError as err:
        yield sse.frame("error", stream_error(err, request_id))
    except GeneratorExit:  # the client went
        if finish:
            conversation_chat.finish(relay)
        raise
    finally:
        session.close()


def _usage(usage) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}
