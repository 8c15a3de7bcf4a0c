"""`/admin/logs`: the usage log explorer (filters, keyset pages, a row's detail, CSV of the filtered rows)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Response, abort, current_app, render_template, request, stream_with_context, url_for
from babel.numbers import format_compact_decimal
from flask_babel import get_locale, gettext
from flask_login import login_required

from aichat.extensions import db
from aichat.providers.base import redact
from aichat.usage import explorer
from aichat.usage.days import usage_zone

from . import logfilters
from .views import bp


def parse_query() -> logfilters.Query:
    """The range and filters of this request's query string (the errors page shares them)."""
    return logfilters.parse(request.args, usage_zone(current_app.config), datetime.now(timezone.utc))


def _about(count: int) -> str:
    """A large count as people say it roughly: 1.2 million, 120万."""
    return format_compact_decimal(count, format_type="long", locale=get_locale(), fraction_digits=1)


def _link(query: logfilters.Query, cursor: explorer.Cursor | None) -> str | None:
    if cursor is None:
        return None
    token = explorer.encode_cursor(cursor, current_app.secret_key)
    return url_for("admin.logs_index", **query.args(cursor=token))


@bp.get("/logs")
@login_required
def logs_index():
    query, cursor = parse_query(), None
    if request.args.get("cursor"):
        try:
            cursor = explorer.decode_cursor(request.args["cursor"], current_app.secret_key)
        except ValueError:
            query.errors["cursor"] = gettext("This page link is damaged or was not made by this server; "
                                             "the newest rows are shown instead.")
    result = explorer.explore(db.session, query.filters, cursor, usage_zone(current_app.config))
    return render_template("admin/logs/index.html", query=query, result=result, ranges=logfilters.RANGE_LABELS,
                           statuses=logfilters.STATUS_LABELS, newer=_link(query, result.page.newer),
                           older=_link(query, result.page.older), cap=explorer.COUNT_CAP, about=_about), \
        400 if query.errors else 200


@bp.get("/logs/<int:row_id>")
@login_required
def logs_detail(row_id: int):
    row = explorer.row(db.session, row_id)
    if row is None:
        abort(404)
    others = explorer.attempts(db.session, [row.request_id]).get(row.request_id, [])
    return render_template("admin/logs/detail.html", row=row, attempts=others, statuses=logfilters.STATUS_LABELS,
                           error_message=redact(row.error_message) if row.error_message else None)


@bp.get("/logs/export")
@login_required
def logs_export():
    query = parse_query()
    if query.errors:
        return logs_index()
    chunks = explorer.export_csv(db.session, query.filters)
    stamp = query.filters.end.strftime("%Y%m%dT%H%M")
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="aichat-logs-{stamp}.csv"'})
