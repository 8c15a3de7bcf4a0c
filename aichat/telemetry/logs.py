"""JSON log lines on stderr: one per request (logger `aichat.access`), and the application's own."""
from __future__ import annotations

import json
import logging
import sys
import time

from flask import g, has_request_context

ACCESS_LOGGER = "aichat.access"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, then the request's fields or the message."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _utc(record.created), "level": record.levelname.lower(), "logger": record.name}
        access = getattr(record, "access", None)
        if access is not None:
            line.update(access)
        else:
            request_id = _request_id()
            if request_id:
                line["request_id"] = request_id
            line["message"] = record.getMessage()
            if record.exc_info:
                line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def _request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self, level: int = logging.NOTSET):
        logging.Handler.__init__(self, level)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure_logging(level: str) -> None:
    """JSON lines on stderr for the `aichat` loggers; safe to call for every app (one handler, ever)."""
    logger = logging.getLogger("aichat")
    try:
        logger.setLevel(level.strip().upper())
    except ValueError:
        raise ValueError(f"AICHAT_LOG_LEVEL: unknown level {level!r} (use DEBUG, INFO, WARNING or ERROR)") from None
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)
