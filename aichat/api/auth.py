"""Who is calling: client keys for the OpenAI-compatible API, admins for the monitoring API.

Client keys are the sites' keys (aichat/tenancy) and those of AICHAT_API_KEYS. Admins authenticate
with a per-admin API token (`Authorization: Bearer aic_…`) or a console session.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from flask import g, request
from flask_login import current_user

from .errors import ApiError
from aichat.runtime import runtime_of

# A token's last use is written at most this often, so polling the API is not a write per call.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token() -> str | None:
    """The Bearer token sent ('' when the header has none after the scheme), None without a Bearer header.

    Another scheme counts as no token, so a console behind a proxy that adds `Authorization: Basic …`
    still works with its session.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def client_label(token: str) -> str | None:
    """The caller label of a client key that may be used now, or None."""
    key = runtime_of().directory.key_for(token)
    return key.label if key is not None and key.usable_at(datetime.now(timezone.utc)) else None


def bearer_client() -> str | None:
    """The label of the client key sent as Bearer, or None (no Bearer token, or not a client key)."""
    token = bearer_token()
    return client_label(token) if token else None


def admin_from_token(token: str):
    """The active admin owning this unrevoked API token, or None; notes when the token was last used."""
    from aichat.extensions import db
    from aichat.models import AdminUser, ApiToken
    from aichat.models.accounts import token_digest

    row = db.session.execute(
        db.select(ApiToken).join(AdminUser)
        .where(ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None), AdminUser.is_active)
    ).scalar_one_or_none()
    if row is None:
        return None
    now = datetime.now(timezone.utc)
    last = row.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive UTC
        last = last.replace(tzinfo=timezone.utc)
    if last is None or now - last > _LAST_USED_RESOLUTION:
        row.last_used_at = now
        db.session.commit()
    return row.admin


def _authenticate_admin():
    token = bearer_token()
    if token is not None:
        admin = admin_from_token(token) if token else None
        if admin is None:
            raise ApiError(401, "invalid_token", "the API token is not valid (revoked, or its admin is disabled)",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return admin
    if current_user.is_authenticated:
        return current_user._get_current_object()
    raise ApiError(401, "authentication_required",
                   "log in at /admin/login or send an admin API token as 'Authorization: Bearer <token>'",
                   headers={"WWW-Authenticate": "Bearer"})


def admin_required(view):
    """An admin's API token or console session, else 401 JSON; the admin is `g.admin`."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.admin = _authenticate_admin()
        return view(*args, **kwargs)

    return wrapper


def caller_or_admin_required(view):
    """A client key (`g.client_label` is its label, `g.admin` None) or an admin (`g.admin` set, the label None)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        label = bearer_client()
        if label is not None:
            g.client_label, g.admin = label, None
        else:
            g.client_label, g.admin = None, _authenticate_admin()
        return view(*args, **kwargs)

    return wrapper
