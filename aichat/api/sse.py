"""Server-sent events: frame formatting and the streaming response."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from flask import Response


def frame(event: str, data: dict) -> str:
    """One `event:`/`data:` frame; JSON is compact and keeps non-ASCII text as is."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def data_frame(data: dict | str) -> str:
    """A bare `data:` frame, as OpenAI's streams send them."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n"


def response(events: Iterator[str], on_close: Callable[[], None]) -> Response:
    """A text/event-stream response sent as it is produced; `on_close` runs however it ends."""
    resp = Response(events, mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    # nginx and similar proxies would otherwise buffer the stream.
    resp.headers["X-Accel-Buffering"] = "no"
    resp.call_on_close(on_close)
    return resp
