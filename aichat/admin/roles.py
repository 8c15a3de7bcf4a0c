"""Roles: `viewer` reads everything but secrets and changes nothing; `admin` changes the configuration and may
read secrets; `owner` also manages admin accounts. Each state-changing view says which it needs."""
from __future__ import annotations

import functools

from flask import abort, current_app, g, request
from flask_babel import gettext
from flask_login import current_user

from aichat.api.auth import bearer_token
from aichat.extensions import csrf
from aichat.models.accounts import ROLES

# Reading a secret (a site's identity secret, a key shown once …) needs this role at least.
SECRETS_ROLE = "admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def has_role(admin, role: str) -> bool:
    """Does `admin` hold `role` or a higher one?"""
    return admin is not None and rank(admin.role) >= rank(role)


def can_read_secrets(admin) -> bool:
    return has_role(admin, SECRETS_ROLE)


def acting_admin():
    """The admin behind this request: an API token's (`g.admin`) or the console session's; None if neither."""
    admin = g.get("admin")
    if admin is not None:
        return admin
    return current_user._get_current_object() if current_user.is_authenticated else None


def role_required(role: str):
    """A view only admins holding `role` (or a higher one) may use: else 403 (401/login when nobody signed in).

    On the JSON APIs put it under `admin_required`. A state-changing request that rides on the console
    session must carry its CSRF token (form field or X-CSRFToken header), even on blueprints that exempt
    themselves from Flask-WTF's check for their token-bearing callers.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            admin = acting_admin()
            if admin is None:
                return current_app.login_manager.unauthorized()
            if request.method not in SAFE_METHODS and bearer_token() is None:
                csrf.protect()  # the session cookie rides along on any request: the token proves intent
            if not has_role(admin, role):
                abort(403, description=gettext("This needs the %(role)s role; %(name)s is a %(has)s.", role=role,
                                               name=admin.username, has=admin.role))
            return view(*args, **kwargs)

        wrapper.required_role = role  # the route table test reads it
        return wrapper

    return decorate
