"""Per request: count it, time it and log one line, once its response has been sent to the end.

A stream's response is closed only when its last event has gone out (or the client left), so
its duration and log line cover the whole stream.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from aichat.netrules import storable_address

from .logs import access_logger
from .metrics import UNMATCHED, Metrics

# Polled every second by balancers and scrapers: logged only when AICHAT_ACCESS_LOG_HEALTH is set.
QUIET_ENDPOINTS = frozenset({"health.live", "health.ready", "metrics.scrape"})
EVENT_STREAM = "text/event-stream"


def watch_requests(app: Flask, metrics: Metrics) -> None:
    """Before/after hooks that feed the request metrics and the access log."""
    log_on = app.config["AICHAT_ACCESS_LOG"]
    log_quiet = app.config["AICHAT_ACCESS_LOG_HEALTH"]
    ip_storage = app.config["AICHAT_CLIENT_IP_STORAGE"]
    log = access_logger()

    @app.before_request
    def start():
        g.telemetry_started = time.perf_counter()

    @app.after_request
    def finish(response):
        started = g.get("telemetry_started") or time.perf_counter()
        rule = request.url_rule
        endpoint = rule.endpoint if rule is not None else UNMATCHED
        status = response.status_code
        streamed = response.mimetype == EVENT_STREAM
        line = None
        if log_on and (log_quiet or endpoint not in QUIET_ENDPOINTS):
            line = _fields(endpoint, status, streamed, ip_storage)
        if streamed:
            metrics.streams.inc()

        def closed():
            seconds = time.perf_counter() - started
            if streamed:
                metrics.streams.dec()
            metrics.request(endpoint, status, seconds)
            if line is not None and log.isEnabledFor(logging.INFO):
                line["latency_ms"] = round(seconds * 1000, 2)
                # Built directly: logger.info() would walk the stack for a caller nobody reads.
                log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "request", None, None,
                                          extra={"access": line}))

        response.call_on_close(closed)
        return response


def _fields(endpoint: str, status: int, streamed: bool, ip_storage: str) -> dict:
    """What the line says about this request; never a header, a key or a body, and the address as configured."""
    provider, model = g.get("served") or (None, None)
    return {
        "request_id": g.get("request_id"),
        "method": request.method,
        "path": request.path[:256],
        "endpoint": endpoint,
        "status": status,
        "latency_ms": None,
        "provider": provider,
        "model": model,
        "stream": streamed,
        "caller": _caller(),
        "remote_addr": storable_address(request.remote_addr, ip_storage),
    }


def _caller() -> str | None:
    """A client key's label, or the admin's name (an API token's or the console session's); both are safe to log."""
    caller = g.get("caller")  # a chat surface's Caller
    if caller is not None and caller.label is not None:
        return caller.label
    label = g.get("client_label")  # a client key reading its own usage
    if label is not None:
        return label
    admin = g.get("admin")
    if admin is None:
        # A console session's admin, only if this request already loaded it (never a lookup for the log's sake).
        signed_in = g.get("_login_user")
        admin = signed_in if getattr(signed_in, "is_authenticated", False) else None
    name = getattr(admin, "username", None) if admin is not None else None
    return f"admin:{name}" if name else None
