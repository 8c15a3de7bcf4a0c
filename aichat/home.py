"""`/`: a small page with the gateway's name, whether it is up (what /health says) and where to go next.

A page rather than a redirect to the console: a load balancer or a visitor that hits `/` gets an
answer that says the gateway runs, not a sign-in form. It shows nothing /health does not.
"""
from __future__ import annotations

from flask import Blueprint, render_template

from aichat.extensions import limiter

bp = Blueprint("home", __name__)


@bp.get("/")
@limiter.exempt
def index():
    # The same signal as /health: the process answers, with no database or network work.
    return render_template("home.html", status="ok")
