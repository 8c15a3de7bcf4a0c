"""`/admin/admins`: the admins; an owner adds them, disables and enables, resets passwords, changes roles,
unlocks and removes them (account_forms.py makes and audits each change)."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from aichat.models.accounts import ROLES

from . import account_forms, accounts, lockout
from .account_forms import FieldError
from .roles import role_required
from .views import _PASSWORD_KEY, bp


def _page(status: int = 200, *, errors: dict | None = None, about: str | None = None, generated=None, form=None):
    """The admins page; `errors` belong to the form of admin `about` (None: the new-admin form)."""
    body = render_template("admin/admins/index.html", admins=accounts.all_admins(), is_locked=lockout.locked,
                           roles=ROLES, errors=errors or {}, about=about, generated=generated,
                           form=form or {})
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"  # a generated password is on it at most once
    return response


def _admin(username: str):
    admin = accounts.find(username)
    if admin is None:
        abort(_page(404, errors={"page": _("No admin called %(name)s.", name=username)}))
    return admin


def _after(done: account_forms.Done, message: str):
    """Back to the list; a generated password is shown on this answer alone, never stored or sent again."""
    if done.generated is not None:
        return _page(generated=(done.admin.username, done.generated))
    flash(message)
    return redirect(url_for("admin.admins_index"))


@bp.get("/admins")
@login_required
def admins_index():
    return _page()


@bp.post("/admins/new")
@role_required("owner")
def admins_create():
    try:
        done = account_forms.create(request.form)
    except FieldError as err:
        return _page(400, errors={err.field: err.message}, form={"username": request.form.get("username", ""),
                                                                  "role": request.form.get("role", "")})
    return _after(done, _("Added %(name)s.", name=done.admin.username))


@bp.post("/admins/<username>/password")
@role_required("owner")
def admins_password(username: str):
    admin = _admin(username)
    try:
        done = account_forms.set_password(admin, request.form)
    except FieldError as err:
        return _page(400, errors={err.field: err.message}, about=username)
    if admin.id == current_user.id:  # the owner's own session goes on; their others end
        session[_PASSWORD_KEY] = accounts.password_fingerprint(admin)
    return _after(done, _("New password set for %(name)s; their other sessions have ended.", name=username))


@bp.post("/admins/<username>/active")
@role_required("owner")
def admins_active(username: str):
    active = request.form.get("active") == "1"
    return _change(username, lambda admin: account_forms.set_active(admin, active),
                   _("Enabled %(name)s.", name=username) if active else _("Disabled %(name)s.", name=username))


@bp.post("/admins/<username>/role")
@role_required("owner")
def admins_role(username: str):
    return _change(username, lambda admin: account_forms.set_role(admin, request.form),
                   _("Changed the role of %(name)s.", name=username))


@bp.post("/admins/<username>/unlock")
@role_required("owner")
def admins_unlock(username: str):
    return _change(username, account_forms.unlock, _("Unlocked %(name)s.", name=username))


@bp.post("/admins/<username>/remove")
@role_required("owner")
def admins_remove(username: str):
    return _change(username, lambda admin: account_forms.remove(admin, request.form),
                   _("Removed %(name)s.", name=username))


def _change(username: str, change, message: str):
    """Make one change to admin `username`; a refusal is shown next to its field in that admin's row."""
    admin = _admin(username)
    try:
        change(admin)
    except FieldError as err:
        return _page(400, errors={err.field: err.message}, about=username)
    flash(message)
    return redirect(url_for("admin.admins_index"))
