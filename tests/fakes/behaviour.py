"""Scripted behaviours for the fake upstreams and the deterministic reply they produce."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

TextSource = Union[str, Callable[[dict], str], None]
ECHO_HEADER = "x-echo-api-key"


@dataclass
class Behaviour:
    """What the fake does for one request; unset fields fall back to the server default."""

    status: int = 200
    error: Optional[str] = None  # error kind, e.g. "rate_limit_exceeded"; implies its status
    message: Optional[str] = None  # overrides the error message
    delay: float = 0.0  # seconds before response headers
    text: TextSource = None  # reply text, or callable(request_json) -> text
    chunks: Union[list, int, None] = None  # explicit pieces, or how many pieces to make
    chunk_interval: float = 0.0
    first_chunk_delay: float = 0.0
    break_after: Optional[int] = None  # content chunks sent before the connection is dropped
    reset: bool = False  # drop with a TCP RST instead of a FIN
    drop: bool = False  # close the connection without any response (after delay)
    usage: Union[bool, dict] = True  # False: no usage; dict: fields to override
    usage_on_choice_chunk: bool = False  # OpenAI stream: usage on the finish chunk, no choices:[] chunk
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    thoughts_tokens: int = 0
    model: Optional[str] = None  # model name reported back instead of the requested one
    finish_reason: Optional[str] = None  # overrides "stop"/"length" ("STOP"/"MAX_TOKENS")
    headers: dict = field(default_factory=dict)  # extra response headers
    key: Optional[str] = None  # only a request with this API key consumes it
    # A careless upstream: every error message quotes the presented key in full, and every response
    # carries it in the ECHO_HEADER header. Set on the server's default to cover the key checks too.
    echo_key: bool = False
    error_after: Optional[int] = None  # content chunks sent before an in-band error event ends the stream

    def replace(self, **changes: Any) -> "Behaviour":
        """Copy with some fields changed."""
        if "error" in changes and "status" not in changes:
            changes["status"] = 0  # 0: the status comes from the error kind, not the default
        return dataclasses.replace(self, **changes)

    @property
    def is_error(self) -> bool:
        """Whether this behaviour answers with an error instead of a completion."""
        return bool(self.error) or self.status != 200


_PIECE = re.compile(r"\s*\S+")
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit".split()


def echo_key_in(message: str, key: Optional[str]) -> str:
    """`message` quoting `key` in full (unless it already does), as an upstream that echoes keys writes it."""
    if not key or key in message:
        return message
    return f"{message} (request made with API key {key})"


def echo_headers(b: Optional[Behaviour], key: Optional[str]) -> list:
    """The echoed-key header when the behaviour asks for it."""
    return [(ECHO_HEADER, key)] if b is not None and b.echo_key and key else []


def count_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer: one token per word."""
    return len(text.split())


def split_pieces(text: str) -> list[str]:
    """Word-sized pieces with their leading whitespace, so that ''.join() gives the text back."""
    pieces = _PIECE.findall(text)
    if pieces and text[len("".join(pieces)):]:
        pieces[-1] += text[len("".join(pieces)):]
    return pieces


def reply_pieces(b: Behaviour, prompt: str, body: dict) -> list[str]:
    """The stream pieces (and, joined, the whole text) this behaviour answers with."""
    if isinstance(b.chunks, (list, tuple)):
        return [str(c) for c in b.chunks]
    if callable(b.text):
        text = b.text(body)
    elif b.text is not None:
        text = b.text
    else:
        text = f"Echo: {prompt}".rstrip()
    pieces = split_pieces(text)
    if isinstance(b.chunks, int):
        # A fixed piece count keeps benchmark streams the same length whatever the prompt.
        words = [p.strip() for p in pieces] + _FILLER
        pieces = [(" " if i else "") + words[i % len(words)] for i in range(b.chunks)]
    return pieces


def limit_pieces(pieces: list[str], max_tokens: Any) -> tuple[list[str], bool]:
    """Cut the reply at the caller's token limit; True when it was cut."""
    if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
        return pieces[:max_tokens], True
    return pieces, False
