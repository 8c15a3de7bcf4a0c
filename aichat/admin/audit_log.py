"""`/admin/audit`: every change, filterable by who, what and when, newest first, paged by keyset."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from flask import current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from aichat import audit_search
from aichat.extensions import db
from aichat.api.params import plain
from aichat.usage.days import parse_date, range_bounds, usage_zone

from .logfilters import CONTROL_CHARACTER
from .views import bp

PAGE_ROWS = 50
# The filter's fields and the longest value each takes (its column's length).
TEXT_FIELDS = {"actor": 128, "action": 64, "target_type": 32, "target": 255}


def _day(text: str) -> date | None:
    try:
        return parse_date(text, "date")
    except ValueError:
        return None


def read_filter(args: Mapping[str, str], config) -> tuple[audit_search.Filter, dict, dict]:
    """The filter the query string asks for, the values to show back, and an error per field that is wrong
    (a wrong field filters nothing)."""
    values = {name: (args.get(name) or "").strip()[:longest] for name, longest in TEXT_FIELDS.items()}
    values.update({name: (args.get(name) or "").strip()[:10] for name in ("from", "to")})
    errors, days = {}, {}
    for name in TEXT_FIELDS:
        if not plain(values[name]):
            errors[name], values[name] = CONTROL_CHARACTER, ""
    for name in ("from", "to"):
        if values[name]:
            days[name] = _day(values[name])
            if days[name] is None:
                errors[name] = _l("Enter a date as YYYY-MM-DD.")
    first, last = days.get("from"), days.get("to")
    if first and last and first > last:
        errors["to"], last = _l("The end is before the start."), None
    zone = usage_zone(config)
    start = range_bounds(first, first, zone)[0] if first else None
    end = range_bounds(last, last, zone)[1] if last else None
    where = audit_search.Filter(**{name: values[name] or None for name in TEXT_FIELDS}, start=start, end=end)
    return where, values, errors


@bp.get("/audit")
@login_required
def audit_index():
    where, values, errors = read_filter(request.args, current_app.config)
    cursor = audit_search.Cursor.parse(request.args.get("page"))
    page = audit_search.search(db.session, where, cursor, PAGE_ROWS)
    kept = {name: value for name, value in values.items() if value}

    def link(at):
        return url_for("admin.audit_index", **kept, page=at.token()) if at is not None else None

    return render_template("admin/audit/index.html", page=page, values=values, errors=errors,
                           actions=audit_search.suggested_actions(page), newer=link(page.newer),
                           older=link(page.older), filtered=bool(kept)), 400 if errors else 200
