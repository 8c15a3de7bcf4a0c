"""`/admin`: login and logout with Flask-Login, lockout and session clocks; each console area in its own module."""
from __future__ import annotations

import importlib
import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from aichat.extensions import db, limiter, login_manager
from aichat.models import AdminUser

from . import accounts, lockout, nav, sessions
from .redirects import safe_next

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.context_processor(nav.template_helpers)
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
    if admin is None or not admin.is_active or session.get(_PASSWORD_KEY) != accounts.password_fingerprint(admin):
        return None
    if sessions.expired(session, current_app.config):
        session.clear()
        g.session_expired = True  # the login page says so
        return None
    sessions.touch(session)
    return admin


@login_manager.unauthorized_handler
def login_first():
    """Pages that need a login send people to it, and back here afterwards."""
    here = request.full_path if request.query_string else request.path
    expired = {"expired": 1} if g.get("session_expired") else {}
    return redirect(url_for("admin.login", next=here if request.method == "GET" else None, **expired))


@bp.get("/login")
def login():
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("admin.index"))
    expired = g.get("session_expired") or request.args.get("expired") == "1"
    return render_template("admin/login.html", next=target, error="expired" if expired else None,
                           insecure_cookie=_cookie_will_not_stick())


def _cookie_will_not_stick() -> bool:
    """A Secure session cookie on a page served over plain HTTP to another host: the browser drops it."""
    if not current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure:
        return False
    # Browsers keep Secure cookies from loopback pages, which count as secure contexts.
    return urlsplit("//" + request.host).hostname not in ("localhost", "127.0.0.1", "::1")


@bp.post("/login")
@login_limit
def login_submit():
    username = request.form.get("username", "")
    target = safe_next(request.form.get("next"))
    outcome = lockout.sign_in(username, request.form.get("password", ""), lockout.Policy.of(current_app.config))
    if outcome.admin is None:
        # One answer per outcome, the same whether the name exists or not: never which part was wrong.
        error, status = ("locked", 423) if outcome.locked else ("invalid", 401)
        return render_template("admin/login.html", error=error, username=username[:64], next=target,
                               lock_minutes=current_app.config["AICHAT_LOGIN_LOCK_MINUTES"]), status
    admin = outcome.admin
    session.clear()  # nothing planted in the session before login survives it (fixation)
    login_user(admin)
    session[_PASSWORD_KEY] = accounts.password_fingerprint(admin)
    sessions.start(session)
    accounts.record_login(admin)
    return redirect(target or url_for("admin.index"))


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("admin.login"))


@bp.errorhandler(CSRFError)
def csrf_failed(_exc: CSRFError):
    return render_template("admin/login.html", error="csrf"), 400


@bp.errorhandler(403)
def forbidden(exc):
    return render_template("admin/forbidden.html", reason=exc.description), 403


# The console's areas, one module each; each adds its views to this blueprint when imported.
AREAS = (
    "dashboard",
    "costs",
    "logs",
    "errors",
    "admins",
    "audit_log",
    "playground",
    "upstreams",
    "prices",
    "help",
    "sites",
    "conversations",
)
for _area in AREAS:
    importlib.import_module(f"{__package__}.{_area}")
