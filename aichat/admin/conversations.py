"""Console: end users' conversations per site — search by user or dates (keyset pages), read one (read-only),
delete one, and a user's export (the end users' own export shape) and erasure. Audit rows name whose data and
how much, never what was said. Retention is a site setting, edited with the site (admin.sites_edit)."""
from __future__ import annotations

import json
from datetime import date

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from aichat import audit
from aichat.chat import console
from aichat.chat.conversations import ConversationNotFound, InvalidCursor
from aichat.extensions import db
from aichat.tenancy import sites as site_store
from aichat.tenancy.directory import LOCAL_DOMAIN
from aichat.usage.days import parse_date, usage_zone

from .roles import role_required
from .views import bp


def _day(text: str | None, name: str, errors: dict) -> date | None:
    if not (text or "").strip():
        return None
    try:
        return parse_date(text.strip(), name)
    except ValueError:
        errors[name] = gettext("Enter a date as YYYY-MM-DD.")
        return None


def _chosen(args) -> tuple[object, dict, dict]:
    """(the site, the search's fields as typed, errors by field) from a query string or form."""
    errors: dict[str, str] = {}
    sites = site_store.all_sites(db.session)
    domain = (args.get("site") or LOCAL_DOMAIN).strip().lower()
    site = next((s for s in sites if s.domain == domain), None)
    if site is None:
        errors["site"], site = gettext("No site has this domain."), next(s for s in sites if s.domain == LOCAL_DOMAIN)
    fields = {"site": site.domain, "user": (args.get("user") or "").strip(), "from": args.get("from") or "",
              "to": args.get("to") or ""}
    return site, fields, errors


def _owner(fields: dict, errors: dict) -> str | None:
    try:
        return console.owner_of(fields["user"])
    except ValueError:
        errors["user"] = gettext("A user id is at most 135 printable characters.")
        return None


@bp.get("/conversations")
@login_required
def conversations_index():
    site, fields, errors = _chosen(request.args)
    owner = _owner(fields, errors)
    wanted = console.Search(site.id, owner, _day(fields["from"], "from", errors), _day(fields["to"], "to", errors),
                            usage_zone(current_app.config))
    try:
        rows, older, newer = console.search(db.session, wanted, request.args.get("before") or None,
                                            request.args.get("after") or None)
    except InvalidCursor:
        errors["before"] = gettext("This page link is not valid any more; start again from the newest.")
        rows, older, newer = console.search(db.session, wanted)
    return render_template("admin/conversations/index.html", sites=site_store.all_sites(db.session), fields=fields,
                           errors=errors, rows=rows, older=older, newer=newer, owner=owner,
                           site=site_store.site_dict(site)), 400 if errors.keys() - {"before"} else 200


@bp.get("/conversations/<public_id>")
@login_required
def conversations_view(public_id: str):
    try:
        found = console.read(db.session, public_id)
    except ConversationNotFound:
        abort(404)
    return render_template("admin/conversations/view.html", conversation=found)


@bp.post("/conversations/<public_id>/delete")
@role_required("admin")
def conversations_delete(public_id: str):
    try:
        record = console.delete_one(db.session, public_id)
    except ConversationNotFound:
        abort(404)
    audit.record("conversations.delete", "conversation", public_id, before=record)
    return redirect(url_for("admin.conversations_index", site=record["site"], user=record["owner"], deleted=1))


def _user_or_400(args):
    site, fields, errors = _chosen(args)
    owner = _owner(fields, errors)
    if owner is None and "user" not in errors:
        errors["user"] = gettext("Name the user: their user id on the site, or user:… / anon:…")
    if errors:
        page = render_template("admin/conversations/erase.html", fields=fields, errors=errors, site=site.domain,
                               owner=None, count=None)
        return None, None, (page, 400)
    return site, owner, None


@bp.post("/conversations/export")
@role_required("admin")
def conversations_export():
    """A user's conversations on one site as a JSON download, as the user's own export gives them."""
    site, owner, refused = _user_or_400(request.form)
    if refused:
        return refused
    data = console.export_user(db.session, site.id, owner)
    audit.record("conversations.export", "end_user", f"{site.domain} {owner}",
                 after={"site": site.domain, "owner": owner, "conversations": len(data["conversations"])})
    response = current_app.response_class(json.dumps(data, ensure_ascii=False, indent=2),
                                          mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="conversations-{site.domain}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/conversations/erase")
@role_required("admin")
def conversations_erase_confirm():
    site, owner, refused = _user_or_400(request.args)
    if refused:
        return refused
    count = len(console.search(db.session, console.Search(site.id, owner), limit=console.PAGE_ROWS)[0])
    return render_template("admin/conversations/erase.html", fields={"site": site.domain, "user": owner},
                           errors={}, site=site.domain, owner=owner, count=count)


@bp.post("/conversations/erase")
@role_required("admin")
def conversations_erase():
    site, owner, refused = _user_or_400(request.form)
    if refused:
        return refused
    erased = console.erase_user(db.session, site.id, owner)
    audit.record("conversations.erase", "end_user", f"{site.domain} {owner}",
                 before={"site": site.domain, "owner": owner, "conversations": erased})
    return redirect(url_for("admin.conversations_index", site=site.domain, erased=erased))
