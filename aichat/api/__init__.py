"""The JSON surfaces: ai-proxy for browsers, the OpenAI-compatible /v1, monitoring, end users' conversations."""
from __future__ import annotations

from flask import Flask

from .errors import register_errors


def register_api(app: Flask) -> None:
    from . import conversations, monitoring, openai_compat, openapi, proxy
    from .cors import init_cors

    app.register_blueprint(proxy.bp)
    app.register_blueprint(openai_compat.bp)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(monitoring.caller_bp)
    app.register_blueprint(conversations.bp)
    app.register_blueprint(openapi.bp)
    register_errors(app)
    init_cors(app)
