"""The JSON surfaces: ai-proxy for browsers, the OpenAI-compatible /v1, monitoring."""
from __future__ import annotations

from flask import Flask

from .errors import register_errors


def register_api(app: Flask) -> None:
    from . import openai_compat, proxy

    app.register_blueprint(proxy.bp)
    app.register_blueprint(openai_compat.bp)
    register_errors(app)
