"""Every response carries X-Request-ID: the caller's when it sent a sane one, a new one otherwise."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def init_request_ids(app: Flask) -> None:
    def assign():
        given = request.headers.get("X-Request-ID")
        g.request_id = given if given and _SANE.match(given) else uuid.uuid4().hex

    # First of every before_request, whatever registered earlier: Flask-Limiter's default limits and
    # the CSRF check answer from theirs, and those answers carry the id too.
    app.before_request_funcs.setdefault(None, []).insert(0, assign)

    @app.after_request
    def attach(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response
