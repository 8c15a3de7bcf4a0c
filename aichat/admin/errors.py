"""`/admin/errors`: recent errors by upstream and error code, each linked to its rows in the log explorer."""
from __future__ import annotations

from flask import render_template
from flask_login import login_required

from aichat.extensions import db
from aichat.usage.error_groups import error_groups

from . import logfilters
from .logs import parse_query
from .views import bp


@bp.get("/errors")
@login_required
def errors_index():
    query = parse_query()
    groups = error_groups(db.session, query.filters.start, query.filters.end)
    return render_template("admin/errors/index.html", query=query, groups=groups,
                           ranges=logfilters.RANGE_LABELS), 400 if query.errors else 200
