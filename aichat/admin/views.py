"""`/admin`: login and logout with Flask-Login; the console pages come later."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from aichat.extensions import db, limiter, login_manager
from aichat.models import AdminUser

from . import accounts
from .redirects import safe_next

bp = Blueprint("admin", __name__, url_prefix="/admin")
# The session remembers a digest of the password hash it was opened with: a new password ends old sessions.
_PASSWORD_KEY = "admin_pw"


def _too_many_attempts(limit):
    response = make_response(render_template("admin/login.html", error="rate_limited"), 429)
    response.headers["Retry-After"] = str(max(1, limit.reset_at - int(time.time())))
    return response


# Attempts per client address, whatever their outcome; checked before the password is.
login_limit = limiter.limit(lambda: current_app.config["AICHAT_LOGIN_RATE_LIMIT"], on_breach=_too_many_attempts)


@login_manager.user_loader
def load_admin(user_id: str):
    admin = db.session.get(AdminUser, int(user_id)) if user_id.isdigit() else None
    if admin is None or not admin.is_active:
        return None
    return admin if session.get(_PASSWORD_KEY) == accounts.password_fingerprint(admin) else None


@login_manager.unauthorized_handler
def login_first():
    """Pages that need a login send people to it, and back here afterwards."""
    here = request.full_path if request.query_string else request.path
    return redirect(url_for("admin.login", next=here))


@bp.get("/login")
def login():
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("admin.index"))
    return render_template("admin/login.html", next=target)


@bp.post("/login")
@login_limit
def login_submit():
    username = request.form.get("username", "")
    target = safe_next(request.form.get("next"))
    admin = accounts.authenticate(username, request.form.get("password", ""))
    if admin is None:  # one answer for every failure: it never says which part was wrong
        return render_template("admin/login.html", error="invalid", username=username[:64], next=target), 401
    session.clear()  # nothing planted in the session before login survives it (fixation)
    login_user(admin)
    session[_PASSWORD_KEY] = accounts.password_fingerprint(admin)
    accounts.record_login(admin)
    return redirect(target or url_for("admin.index"))


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def index():
    return render_template("admin/index.html")


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError):
    return render_template("admin/login.html", error="csrf"), 400
