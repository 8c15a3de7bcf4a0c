"""`/health` (liveness), `/health/ready` (readiness) and `/health/verify` (the full check, admins only).

Load balancers poll these every second: they are exempt from rate limits and never logged
per request unless AICHAT_ACCESS_LOG_HEALTH is set.
"""
from flask import Blueprint, current_app, request

from aichat.api.auth import admin_required
from aichat.extensions import csrf, limiter

from .checks import report, run_checks
from .ready import readiness

bp = Blueprint("health", __name__)
csrf.exempt(bp)  # JSON for balancers and `flask verify` (a bearer token), no forms


@bp.get("/health")
@limiter.exempt
def live():
    """The process answers: no database or network work."""
    return {"status": "ok"}


@bp.get("/health/ready")
@limiter.exempt
def ready():
    """200 when this process can serve chat, else 503 with the checks that failed (cached briefly)."""
    body, is_ready = readiness(current_app._get_current_object()).answer()
    return body, 200 if is_ready else 503, {"Cache-Control": "no-store"}


@bp.get("/health/verify")
@limiter.exempt
@admin_required
def verify():
    """Every deployment check, as `flask verify --json` prints them; `?live=1` adds a tiny real call per provider."""
    # 200 even when a check fails: the body says so, and a monitor or the remote check reads it.
    live = request.args.get("live", "").lower() in ("1", "true", "yes")
    return report(run_checks(current_app._get_current_object(), live=live)), 200, {"Cache-Control": "no-store"}
