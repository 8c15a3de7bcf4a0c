"""Server-sent events: frame formatting and the streaming response."""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator

from flask import Response


def frame(event: str, data: dict) -> str:
    """One `event:`/`data:` frame; JSON is compact and keeps non-ASCII text as is."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def data_frame(data: dict | str) -> str:
    """A bare `data:` frame, as OpenAI's streams send them."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n"


# Stands where each delta's text goes in a frame built once per stream: random per process, so no value an
# upstream or a caller sends (a model name, say) can contain it.
_SLOT = f"\x00{secrets.token_hex(16)}\x00"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class TextFrames:
    """Frames that differ only in one text field, built once: per delta only the text is encoded.

    Encoding the whole event again for every delta cost about 5 µs a delta; this is a string join.
    `frames.of(text)` equals the frame of `template` with `text` in place of SLOT.
    """

    __slots__ = ("before", "after")

    SLOT = _SLOT

    def __init__(self, template: str):
        encoded = _dumps(_SLOT)
        self.before, found, self.after = template.partition(encoded)
        if not found:
            raise ValueError("the template has no text slot")

    def of(self, text: str) -> str:
        return self.before + _dumps(text) + self.after


DELTA_FRAMES = TextFrames(frame("delta", {"content": _SLOT}))


def response(events: Iterator[str], on_close: Callable[[], None]) -> Response:
    """A text/event-stream response sent as it is produced; `on_close` runs however it ends."""
    resp = Response(events, mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    # nginx and similar proxies would otherwise buffer the stream.
    resp.headers["X-Accel-Buffering"] = "no"
    resp.call_on_close(on_close)
    return resp
