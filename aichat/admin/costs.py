"""Cost analysis at /admin/costs: a period's cost by site, upstream, model and client key; sortable; CSV."""
from __future__ import annotations

from flask import Response, abort, current_app, render_template, request, stream_with_context
from flask_login import login_required

from aichat.extensions import db
from aichat.usage import costs
from aichat.usage.dashboard import known_sites

from .period import PRESET_LABELS, choose
from .views import bp


def _choice():
    sites = known_sites(db.session)
    return choose(request.args, current_app.config, sites=set(sites)), sites


@bp.get("/costs")
@login_required
def costs_index():
    choice, sites = _choice()
    column, direction = costs.choose_sort(request.args.get("sort"), request.args.get("dir"))
    tables = []
    for by in costs.DIMENSIONS:
        result = costs.breakdown(db.session, by, choice.period, choice.previous(), choice.site)
        tables.append((result, costs.sort_rows(result, column, direction)))
    return render_template("admin/costs/index.html", choice=choice, sites=sites, labels=PRESET_LABELS,
                           tables=tables, sort=column, direction=direction)


@bp.get("/costs/<by>.csv")
@login_required
def costs_export(by: str):
    if by not in costs.DIMENSIONS:
        abort(404)
    choice, _ = _choice()
    column, direction = costs.choose_sort(request.args.get("sort"), request.args.get("dir"))
    result = costs.breakdown(db.session, by, choice.period, choice.previous(), choice.site)
    lines = costs.csv_lines(result, costs.sort_rows(result, column, direction))
    name = f"aichat-costs-{by}-{choice.period.first.isoformat()}-{choice.period.last.isoformat()}.csv"
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
