"""The chat endpoint continuing a stored conversation: `conversation_id` and the new `message` in place of `messages`.

The caller names its end user (as on the conversation API) and the conversation is looked up for them
(someone else's is a 404). The new message is held to the site's preset like any browser request; the
context is the newest stored turns that fit the token budget (the preset's max_input_tokens, else
AICHAT_CONVERSATION_CONTEXT_TOKENS), the site's system prompt first. Nothing is written here: the call's
context carries the turn, and the end-of-call hook stores it (aichat/chat/recording.py).
"""
from __future__ import annotations

from collections.abc import Iterator

from flask import current_app, g

from aichat.chat import conversations as store
from aichat.chat.context import ContextTooLarge, assemble
from aichat.chat.turns import Turn, history
from aichat.extensions import db
from aichat.providers.base import ChatRequest, ProviderError

from . import context, validation
from .callers import BROWSER, require_end_user
from .errors import ApiError
from .validation import ProxyOptions

FINISH = "finish"  # a site's on_disconnect that finishes a conversation's answer after its client went


def prepare(data: dict) -> tuple[ChatRequest, ProxyOptions, Turn]:
    """The request as it goes upstream (stored turns, then the new message, under the site's preset), its
    options, and the turn the call will store."""
    caller = g.caller
    require_end_user(caller)
    limits = context.limits()
    req, options, conversation_id = validation.conversation_chat(data, limits,
                                                                  current_app.config["AICHAT_SUGGESTIONS"])
    context.check_model(req.model)
    shaped = context.with_preset(req)  # the new message against the preset's caps; its model, temperature, prompt
    browser = caller.kind == BROWSER
    preset = caller.site.preset
    budget = preset.max_input_tokens or current_app.config["AICHAT_CONVERSATION_CONTEXT_TOKENS"]
    max_messages = min(limits.max_messages, preset.max_messages or limits.max_messages) if browser \
        else limits.max_messages
    new = req.messages[-1]
    row_id, stored = history(db.session, store.Owner(caller.site.id, caller.identity.owner), conversation_id,
                             budget, max_messages)
    turn = Turn(row_id, conversation_id, new.content, g.request_id)
    db.session.close()  # nothing more is read: the connection goes back to the pool before the upstream call
    try:
        assembled = assemble(stored, new, budget, preset.system_prompt if browser else None, max_messages)
    except ContextTooLarge as exc:
        raise _too_large(exc, from_preset=preset.max_input_tokens is not None) from None
    # What the preset put before the new message (the site's system prompt), then the kept turns and the message.
    messages = [*shaped.messages[:-1], *assembled.messages]
    return (ChatRequest(messages=messages, model=shaped.model, temperature=shaped.temperature,
                        max_tokens=shaped.max_tokens, stream=shaped.stream, extra=shaped.extra), options, turn)


def _too_large(exc: ContextTooLarge, from_preset: bool) -> ApiError:
    if from_preset:
        return ApiError(400, "preset_violation", f"max_input_tokens: {exc}", param="message")
    return ApiError(400, "context_too_large", f"AICHAT_CONVERSATION_CONTEXT_TOKENS: {exc}", param="message")


def finishes(turn: Turn | None) -> bool:
    """Does this call's answer go on after its client left? Only a conversation's, on a site that asks for it."""
    return turn is not None and g.caller.site.on_disconnect == FINISH


def finish(relay: Iterator[str]) -> None:
    """The client went: read the rest of the answer, so the turn is stored whole. The stream's own timeouts and
    the server's stop deadline (the lifecycle's relay) still end it; then what came is stored as partial."""
    try:
        for _ in relay:
            pass
    except ProviderError:
        pass  # the stream records the error when it closes


def ids(turn: Turn | None) -> dict:
    """What a conversation's answer adds to the JSON answer and the `done` event."""
    return {"conversation_id": turn.conversation_id, "message_id": turn.answer_id} if turn is not None else {}
