"""`/metrics`: the Prometheus scrape, for an allowed address (aichat/network.py), with the token when one is set."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from aichat.api.errors import ApiError
from aichat.extensions import csrf, limiter
from aichat.runtime import runtime_of

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)  # a Prometheus scrape, no forms


@bp.get("/metrics")
@limiter.exempt
def scrape():
    """Every aichat_* metric in the Prometheus text format."""
    token_required(current_app.config["AICHAT_METRICS_TOKEN"])
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

    # Every name is a classic one, so the format every Prometheus version reads.
    return Response(runtime_of().metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def token_required(token: str) -> None:
    """When AICHAT_METRICS_TOKEN is set, `Authorization: Bearer <it>`, compared in constant time; otherwise 401."""
    if not token:
        return
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    bearer = sent.strip() if scheme.lower() == "bearer" else ""
    if bearer and hmac.compare_digest(bearer.encode(), token.encode()):
        return
    if bearer:
        raise ApiError(401, "invalid_token", "the metrics token is not valid",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics", error="invalid_token"'})
    # RFC 6750: a request without a token gets the challenge without an error code.
    raise ApiError(401, "missing_token", "/metrics needs 'Authorization: Bearer <AICHAT_METRICS_TOKEN>'",
                   headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
