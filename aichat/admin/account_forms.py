"""The admins page's changes: each reads its form, makes the change through accounts.py and audits it.

A refusal is a FieldError naming the form field it belongs next to, in the reader's language. Passwords,
typed or generated, are never logged nor audited (the audit row says only that it changed).
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _

from aichat import audit
from aichat.models import AdminUser
from aichat.models.accounts import ROLES

from . import accounts

GENERATED_LENGTH = 24  # characters of a generated password: 144 random bits


class FieldError(ValueError):
    """A change refused because of one field; `message` is shown next to it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Done:
    """A change made: the admin it touched, and a password generated for them (shown once), if any."""

    admin: AdminUser
    generated: str | None = None


def _password(form: Mapping[str, str]) -> tuple[str, str | None]:
    """The new password the form asks for (typed twice, or generated); the generated one also comes back."""
    if form.get("generate"):
        password = secrets.token_urlsafe(GENERATED_LENGTH * 3 // 4)
        return password, password
    password = form.get("password", "")
    if len(password) < accounts.MIN_PASSWORD_LENGTH:
        raise FieldError("password", _("At least %(count)d characters, or generate one.",
                                       count=accounts.MIN_PASSWORD_LENGTH))
    if len(password) > accounts.MAX_PASSWORD_LENGTH:
        raise FieldError("password", _("At most %(count)d characters.", count=accounts.MAX_PASSWORD_LENGTH))
    if password != form.get("password_repeat", ""):
        raise FieldError("password_repeat", _("The two passwords differ."))
    return password, None


def _role(form: Mapping[str, str]) -> str:
    role = form.get("role", "")
    if role not in ROLES:
        raise FieldError("role", _("Choose one of the roles offered."))
    return role


def create(form: Mapping[str, str]) -> Done:
    """A new admin: username, role, and a password typed twice or generated."""
    username = form.get("username", "").strip()
    try:
        accounts.check_username(username)
    except accounts.AccountError:
        raise FieldError("username", _("1 to 64 letters, digits and . _ @ -.")) from None
    try:
        accounts.check_available(username)  # names differing only in case are taken too
    except accounts.AccountError:
        raise FieldError("username", _("An admin called %(name)s already exists.", name=username)) from None
    role = _role(form)
    password, generated = _password(form)
    try:
        admin = accounts.create_admin(username, password, role)
    except accounts.AccountError:  # created by someone else since the check
        raise FieldError("username", _("An admin called %(name)s already exists.", name=username)) from None
    audit.record("users.create", "admin", admin.username, after=accounts.snapshot(admin))
    return Done(admin, generated)


def set_password(admin: AdminUser, form: Mapping[str, str]) -> Done:
    """A new password, typed by the owner or generated; the admin's open sessions end."""
    password, generated = _password(form)
    accounts.set_password(admin, password)
    audit.record("users.set_password", "admin", admin.username, after={"password": "changed"})
    return Done(admin, generated)


def set_active(admin: AdminUser, active: bool) -> Done:
    """Enable or disable (not the last active owner: FieldError on `active`)."""
    before = accounts.snapshot(admin)
    if admin.is_active == active:
        return Done(admin)
    try:
        accounts.set_active(admin, active)
    except accounts.LastOwnerError:
        raise FieldError("active", _last_owner(admin)) from None
    audit.record("users.enable" if active else "users.disable", "admin", admin.username, before=before,
                 after=accounts.snapshot(admin))
    return Done(admin)


def set_role(admin: AdminUser, form: Mapping[str, str]) -> Done:
    """Another role (the last active owner keeps theirs: FieldError on `role`)."""
    role = _role(form)
    before = accounts.snapshot(admin)
    if admin.role == role:
        return Done(admin)
    try:
        accounts.set_role(admin, role)
    except accounts.LastOwnerError:
        raise FieldError("role", _last_owner(admin)) from None
    audit.record("users.set_role", "admin", admin.username, before=before, after=accounts.snapshot(admin))
    return Done(admin)


def unlock(admin: AdminUser) -> Done:
    """Clear a lock from failed sign-ins (audited when there was one)."""
    before = accounts.snapshot(admin)
    if accounts.unlock(admin):
        audit.record("users.unlock", "admin", admin.username, before=before, after=accounts.snapshot(admin))
    return Done(admin)


def remove(admin: AdminUser, form: Mapping[str, str]) -> None:
    """Delete an admin and their API tokens, once confirmed (never the last active owner)."""
    if form.get("confirm") != admin.username:
        raise FieldError("confirm", _("Type the username to confirm."))
    before, username = accounts.snapshot(admin), admin.username
    try:
        accounts.remove(admin)
    except accounts.LastOwnerError:
        raise FieldError("confirm", _last_owner(admin)) from None
    audit.record("users.remove", "admin", username, before=before)


def _last_owner(admin: AdminUser) -> str:
    return _("%(name)s is the last active owner: make another admin an owner first.", name=admin.username)
