"""Follow-up suggestions, produced in-band by the same upstream call.

The model is asked to end its answer with a marker and a JSON list of up to three
short questions. The gateway strips that tail from the content (also mid-stream,
holding back only text that could be the start of the marker) and parses it.
Cost: about 70 prompt tokens for the instruction and 20–50 completion tokens per answer;
no extra call and no added latency.
"""
from __future__ import annotations

import json
import re

from aichat.providers.base import SUGGESTIONS_MARKER, ChatRequest, Message

MAX_SUGGESTIONS = 3
INSTRUCTION = (
    "After your answer, on a new line, write " + SUGGESTIONS_MARKER + " followed by a JSON array "
    "of up to 3 short follow-up questions the user might ask next, written in the language of "
    "the conversation. Write nothing after the array."
)


def with_instruction(req: ChatRequest) -> ChatRequest:
    """A copy of the request with the suggestions instruction as a trailing system message."""
    return ChatRequest(
        messages=[*req.messages, Message("system", INSTRUCTION)],
        model=req.model,
        temperature=req.temperature,
        max_tokens=req.max_tokens,
        stream=req.stream,
        extra=req.extra,
    )


def split(text: str) -> tuple[str, list[str]]:
    """The answer without the suggestions tail, and the parsed suggestions."""
    head, sep, tail = text.partition(SUGGESTIONS_MARKER)
    if not sep:
        return text, []
    return head.rstrip(), parse(tail)


def parse(tail: str) -> list[str]:
    """A JSON array when the model wrote one; otherwise one suggestion per non-empty line."""
    tail = tail.strip()
    match = re.search(r"\[.*\]", tail, re.S)
    items: list = []
    if match:
        try:
            items = json.loads(match.group(0))
        except ValueError:
            items = []
    if not isinstance(items, list) or not items:
        items = [line.strip(" -*•\t\"'") for line in tail.splitlines()]
    cleaned = [str(item).strip()[:200] for item in items if isinstance(item, (str, int, float)) and str(item).strip()]
    return cleaned[:MAX_SUGGESTIONS]


class StreamFilter:
    """Forwards streamed text at once, except what may be the start of the suggestions tail."""

    def __init__(self):
        self._held = ""  # whitespace and/or a prefix of the marker, not yet known to be content
        self._tail: list[str] | None = None  # text after the marker, once it is seen

    def feed(self, text: str) -> str:
        """The part of `text` that is certainly content."""
        if self._tail is not None:
            self._tail.append(text)
            return ""
        pending = self._held + text
        index = pending.find(SUGGESTIONS_MARKER)
        if index >= 0:
            self._tail = [pending[index + len(SUGGESTIONS_MARKER):]]
            self._held = ""
            return pending[:index].rstrip()
        keep = _holdback(pending)
        self._held = pending[len(pending) - keep:] if keep else ""
        return pending[: len(pending) - keep]

    def finish(self) -> tuple[str, list[str]]:
        """Text still held back that turned out to be content, and the suggestions."""
        if self._tail is None:
            held, self._held = self._held, ""
            return held.rstrip(), []
        return "", parse("".join(self._tail))


def _holdback(text: str) -> int:
    """Length of the longest suffix that is whitespace followed by a proper prefix of the marker."""
    for size in range(min(len(SUGGESTIONS_MARKER) - 1, len(text)), 0, -1):
        if SUGGESTIONS_MARKER.startswith(text[-size:]):
            marker_start = len(text) - size
            break
    else:
        marker_start = len(text)
    stripped = text[:marker_start].rstrip()
    return len(text) - len(stripped)
