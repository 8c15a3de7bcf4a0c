"""A conversation's context for its next call: the stored turns that fit the budget, newest kept first.

The client sends only its new message; the gateway rebuilds what the model sees from the stored
messages. The site's system prompt always stays (the preset puts it first later), the new message
always stays, and whole turns are dropped from the oldest until the estimate fits the token budget
and the message count: a context never starts with an answer whose question was dropped.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aichat.gateway.tokens import estimate_tokens
from aichat.providers.base import Message

FRAMING = 4  # tokens of framing per message, as the gateway estimates prompts


class ContextTooLarge(ValueError):
    """The new message alone (with the system prompt) does not fit the budget."""

    def __init__(self, tokens: int, budget: int):
        super().__init__(f"the message is about {tokens} tokens with the site's instructions; "
                         f"this conversation accepts at most {budget}")
        self.tokens = tokens
        self.budget = budget


@dataclass(frozen=True, slots=True)
class Context:
    messages: list[Message]  # what is sent: the kept turns, then the new message (no system prompt)
    dropped: int  # stored messages left out
    tokens: int  # the estimate of what is sent, system prompt included


def assemble(history: Sequence[Message], new: Message, budget: int, system_prompt: str | None = None,
             max_messages: int | None = None) -> Context:
    """The newest whole turns of `history` (oldest first) that fit `budget` tokens and `max_messages` with `new`."""
    fixed = _cost(new) + (estimate_tokens(system_prompt) + FRAMING if system_prompt else 0)
    if fixed > budget:
        raise ContextTooLarge(fixed, budget)
    room_messages = (max_messages - 1) if max_messages is not None else len(history)
    kept: list[Message] = []
    used = fixed
    for turn in reversed(_turns(history)):
        cost = sum(_cost(m) for m in turn)
        if used + cost > budget or len(kept) + len(turn) > room_messages:
            break
        kept[:0] = turn
        used += cost
    return Context([*kept, new], len(history) - len(kept), used)


def _turns(history: Sequence[Message]) -> list[list[Message]]:
    """The history cut into turns: each starts at a user message (what comes before the first is one turn)."""
    turns: list[list[Message]] = []
    for message in history:
        if message.role == "system":
            continue  # the site's prompt is not stored; a stray one is never replayed
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def _cost(message: Message) -> int:
    return estimate_tokens(message.content) + FRAMING
