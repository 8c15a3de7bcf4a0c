"""`/v1`: the OpenAI wire format, so any OpenAI SDK or tool works by changing its base URL."""
from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, g, jsonify, request

from aichat.extensions import csrf
from aichat.gateway import ChatResult, StreamSession
from aichat.lifecycle import Lifecycle
from aichat.providers.base import ProviderError

from . import context, sse, validation
from .callers import client_key_required
from .errors import openai_stream_error
from .limits import within_limits

bp = Blueprint("openai", __name__, url_prefix="/v1")
csrf.exempt(bp)  # JSON with a client key


@bp.post("/chat/completions")
@client_key_required
@within_limits
def chat_completions():
    data = validation.json_body(request)
    req, include_usage = validation.openai_chat(data, context.limits())
    context.check_model(req.model)
    ctx = context.call_context("v1", site=validation.site_domain(data, allowed=g.caller.names_sites))
    if req.stream:
        session = context.gateway().open_stream(req, ctx)
        context.note_served(session.provider, session.model)
        return sse.response(_chunks(session, include_usage, context.lifecycle()),
                            session.close)
    with context.lifecycle().watch_call():
        result = context.gateway().complete(req, ctx)
    context.note_served(result.provider, result.model)
    return jsonify(_completion(result, ctx.request_id))


@bp.get("/models")
@client_key_required
def models():
    created = int(time.time())
    router, key = context.gateway().router, g.caller.key
    names = router.known_models()
    if key.models:  # a key limited to some models lists only those
        names = [name for name in names if context.key_allows(key, router, name)]
    return jsonify({"object": "list",
                    "data": [{"id": n, "object": "model", "created": created, "owned_by": "aichat"} for n in names]})


def _completion(result: ChatResult, request_id: str) -> dict:
    completion = result.completion
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": completion.content, "refusal": None},
            "logprobs": None,
            "finish_reason": completion.finish_reason or "stop",
        }],
        "usage": _usage(result.usage),
        "system_fingerprint": None,
    }


def _chunks(session: StreamSession, include_usage: bool, lifecycle: Lifecycle) -> Iterator[str]:
    """chat.completion.chunk events as text arrives, the usage chunk when asked for, then [DONE]; or an error chunk."""
    head = {"id": f"chatcmpl-{session.ctx.request_id}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": session.model, "system_fingerprint": None}
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict, finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse.data_frame({**head, "choices": [choice], **extra})

    content = sse.TextFrames(chunk({"content": sse.TextFrames.SLOT}))  # per delta: only the text is encoded
    try:
        yield chunk({"role": "assistant", "content": ""})
        for text in lifecycle.relay(session):
            yield content.of(text)
        yield chunk({}, session.finish_reason or "stop")
        if include_usage:
            yield sse.data_frame({**head, "choices": [], "usage": _usage(session.final_usage())})
        yield sse.data_frame("[DONE]")
    except ProviderError as err:
        yield sse.data_frame(openai_stream_error(err))
    finally:
        session.close()


def _usage(usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
