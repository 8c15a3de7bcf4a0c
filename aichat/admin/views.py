"""`/admin`: login and logout with Flask-Login."""
from __future__ import annotations

from flask import Blueprint

from aichat.extensions import db, login_manager
from aichat.models import AdminUser

bp = Blueprint("admin", __name__, url_prefix="/admin")


@login_manager.user_loader
def load_admin(user_id: str):
    admin = db.session.get(AdminUser, int(user_id)) if user_id.isdigit() else None
    return admin if admin is not None and admin.is_active else None
