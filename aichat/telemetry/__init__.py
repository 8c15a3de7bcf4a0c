"""Structured request logs and Prometheus metrics."""
from __future__ import annotations

from flask import Flask


def init_telemetry(app: Flask) -> None:
    """Set up request logging and metrics for this app."""
