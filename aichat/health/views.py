"""`/health`: liveness, no database or network work."""
from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/health")
def live():
    return {"status": "ok"}
