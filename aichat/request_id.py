"""Every response carries X-Request-ID: the caller's when it sent a sane one, a new one otherwise."""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, request

_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def assign():
        given = request.headers.get("X-Request-ID")
        g.request_id = given if given and _SANE.match(given) else uuid.uuid4().hex

    @app.after_request
    def attach(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        return response
