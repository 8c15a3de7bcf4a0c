"""`/api/v1/ai-monitoring`: usage, cost and errors for admins; `/api/v1/ai-proxy/stats` for callers.

Every view parses its parameters (400 on anything off), makes one query from usage/queries.py
or usage/export.py, and returns JSON or a streamed CSV. Shapes are in the OpenAPI document
(api/openapi.py).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from aichat.extensions import csrf, db
from aichat.usage import export, queries
from aichat.usage.days import last_days, usage_zone

from . import params
from .auth import admin_required, caller_or_admin_required
from .limits import quota_view
from aichat.runtime import runtime_of

bp = Blueprint("monitoring", __name__, url_prefix="/api/v1/ai-monitoring")
caller_bp = Blueprint("caller_stats", __name__, url_prefix="/api/v1/ai-proxy")
# Read-only JSON. A write added here that a console session may make needs the CSRF check back.
csrf.exempt(bp)
csrf.exempt(caller_bp)


def _period(days: int) -> queries.Period:
    zone = usage_zone(current_app.config)
    return queries.Period(*last_days(days, zone), zone)


@bp.get("/summary")
@admin_required
def summary():
    """Totals for the last `days` local days, optionally for one site."""
    period, site = _period(params.days(request.args, 7)), params.text(request.args, "site_domain")
    return jsonify(queries.summary(db.session, period, site_domain=site))


@bp.get("/daily")
@admin_required
def daily():
    """One zero-filled point per local day, oldest first."""
    period, site = _period(params.days(request.args, 30)), params.text(request.args, "site_domain")
    return jsonify(queries.daily(db.session, period, site_domain=site))


@bp.get("/providers")
@admin_required
def providers():
    """Per upstream over the period, with each configured upstream's circuit as this worker sees it (shared with
    every worker through Redis when REDIS_URL is set)."""
    period, site = _period(params.days(request.args, 7)), params.text(request.args, "site_domain")
    upstreams = runtime_of().gateway.upstreams
    live = {name: {**upstream.health(), "kind": upstream.adapter.kind} for name, upstream in upstreams.items()}
    return jsonify(queries.providers(db.session, period, live, site_domain=site))


@bp.get("/recent-errors")
@admin_required
def recent_errors():
    """The newest failed attempts, messages redacted."""
    args = request.args
    limit, site = params.limit(args, 50), params.text(args, "site_domain")
    provider, upstream = params.text(args, "provider"), params.text(args, "upstream")
    return jsonify(queries.recent_errors(db.session, limit, provider=provider, site_domain=site, upstream=upstream))


@bp.get("/quota")
@admin_required
def quota():
    """What each site and client key has used and has left now in each window of its limits."""
    site = params.text(request.args, "site_domain")
    return jsonify(quota_view(runtime_of().quota, runtime_of().directory, site))


@bp.get("/export/logs.csv")
@admin_required
def export_logs():
    """Every log row of local days from..to as a streamed CSV attachment."""
    first, last = params.date_range(request.args)
    zone = usage_zone(current_app.config)
    return _csv(export.log_csv(db.session, first, last, zone), f"aichat-usage-logs-{first}-{last}.csv")


@bp.get("/export/daily.csv")
@admin_required
def export_daily():
    """The daily rollup of local days from..to as a streamed CSV attachment."""
    first, last = params.date_range(request.args)
    return _csv(export.daily_csv(db.session, first, last), f"aichat-usage-daily-{first}-{last}.csv")


def _csv(chunks, filename: str) -> Response:
    # The request context (and its database session) stays open while the rows stream.
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@caller_bp.get("/stats")
@caller_or_admin_required
def caller_stats():
    """A client key's own usage; an admin sees everyone's, or one caller's with `caller`."""
    args = request.args
    period, site = _period(params.days(args, 7)), params.text(args, "site_domain")
    caller = params.text(args, "caller")
    if g.client_label is not None:
        if caller is not None and caller != g.client_label:
            raise params.invalid("caller", "caller is chosen by admins; a client key sees its own usage")
        caller = g.client_label
    return jsonify(queries.caller_summary(db.session, period, caller, site_domain=site))
