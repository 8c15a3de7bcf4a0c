"""Structured request logs and Prometheus metrics."""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from aichat.runtime import runtime_of


def init_telemetry(app: Flask) -> None:
    """Set up request logging and metrics for this app."""
    from .access import watch_requests
    from .logs import configure_logging
    from .metrics import Metrics

    configure_logging(app.config["AICHAT_LOG_LEVEL"])
    metrics = runtime_of(app).metrics = Metrics()
    watch_requests(app, metrics)


def metrics_of(app: Flask):
    """This app's Metrics."""
    return runtime_of(app).metrics


def observing(app: Flask, sink: Callable[[dict], None]) -> Callable[[dict], None]:
    """`sink` for usage records, counting each upstream attempt on its way."""
    attempt = metrics_of(app).attempt

    def observe_and_record(record: dict) -> None:
        attempt(record)
        sink(record)

    return observe_and_record
