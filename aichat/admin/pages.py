"""Console pages for the admin side itself: the admins (an owner unlocks a locked one) and the audit log."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import login_required

from aichat import audit

from . import accounts, lockout
from .roles import role_required
from .views import bp

AUDIT_PAGE_ROWS = 200


@bp.get("/admins")
@login_required
def admins_index():
    return render_template("admin/admins.html", admins=accounts.all_admins(), is_locked=lockout.locked)


@bp.post("/admins/<username>/unlock")
@role_required("owner")
def admins_unlock(username: str):
    admin = accounts.find(username)
    if admin is None:
        return render_template("admin/admins.html", admins=accounts.all_admins(), is_locked=lockout.locked,
                               error=f"No admin called {username!r}."), 404
    before = accounts.snapshot(admin)
    if accounts.unlock(admin):
        audit.record("users.unlock", "admin", admin.username, before=before, after=accounts.snapshot(admin))
    return redirect(url_for("admin.admins_index"))


@bp.get("/audit")
@login_required
def audit_index():
    actor = request.args.get("actor", "")[:128] or None
    target = request.args.get("target", "")[:255] or None
    rows = audit.events(actor=actor, target=target, limit=AUDIT_PAGE_ROWS)
    return render_template("admin/audit.html", rows=rows, changes=audit.changes, actor=actor or "",
                           target=target or "")
