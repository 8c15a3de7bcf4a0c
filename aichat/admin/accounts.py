"""Admin accounts: the rules for names, passwords and roles, creation, login checks and API tokens."""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from functools import lru_cache

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from aichat.extensions import db
from aichat.models import AdminUser, ApiToken
from aichat.models.accounts import ROLES

MIN_PASSWORD_LENGTH = 12
# scrypt takes any length, but a megabyte "password" is an attack on our CPU, not a password.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_NAME_LENGTH = 64
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class AccountError(ValueError):
    """A refused account operation; the message is meant for the operator."""


class LastOwnerError(AccountError):
    """The change would leave no active owner, and so nobody who can manage admins."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def check_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise AccountError("a username is 1 to 64 characters of letters, digits and . _ @ -")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def find(username: str) -> AdminUser | None:
    return db.session.execute(db.select(AdminUser).where(AdminUser.username == username)).scalar_one_or_none()


def get(username: str) -> AdminUser:
    """The admin called `username`, or an AccountError that says there is none."""
    admin = find(username)
    if admin is None:
        raise AccountError(f"no admin called {username!r}")
    return admin


def check_available(username: str) -> str:
    """A valid name no admin has; names differing only in case count as taken, so people never mix them up."""
    check_username(username)
    taken = db.session.execute(
        db.select(AdminUser.username).where(func.lower(AdminUser.username) == username.lower())
    ).scalar_one_or_none()
    if taken is not None:
        raise AccountError(f"an admin called {taken!r} already exists")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def default_role() -> str:
    """`owner` for the first admin of an install (someone must manage the others), `admin` after that."""
    owners = db.session.execute(db.select(func.count()).where(AdminUser.role == "owner")).scalar_one()
    return "admin" if owners else "owner"


def create_admin(username: str, password: str, role: str | None = None) -> AdminUser:
    """A new active admin with `role` (default: default_role())."""
    check_available(username)
    check_password(password)
    admin = AdminUser(username=username, is_active=True, role=check_role(role or default_role()))
    admin.set_password(password)
    db.session.add(admin)
    try:
        db.session.commit()
    except IntegrityError:  # created by someone else since the check
        db.session.rollback()
        raise AccountError(f"an admin called {username!r} already exists") from None
    return admin


def set_password(admin: AdminUser, password: str) -> None:
    admin.set_password(check_password(password))
    db.session.commit()


def set_active(admin: AdminUser, active: bool) -> None:
    if not active:
        _keep_an_owner(admin, "disable")
    admin.is_active = active
    db.session.commit()


def set_role(admin: AdminUser, role: str) -> None:
    check_role(role)
    if role != "owner":
        _keep_an_owner(admin, "demote")
    admin.role = role
    db.session.commit()


def remove(admin: AdminUser) -> None:
    """Delete an admin and their API tokens (the audit log keeps their name)."""
    _keep_an_owner(admin, "remove")
    db.session.delete(admin)
    db.session.commit()


def _keep_an_owner(admin: AdminUser, doing: str) -> None:
    """Refuse to take away the last active owner."""
    if admin.role != "owner" or not admin.is_active:
        return
    others = db.session.execute(db.select(func.count()).where(
        AdminUser.role == "owner", AdminUser.is_active, AdminUser.id != admin.id)).scalar_one()
    if not others:
        raise LastOwnerError(f"cannot {doing} {admin.username!r}: it is the last active owner; make another admin "
                             f"an owner first (flask users set-role NAME owner)")


def unlock(admin: AdminUser) -> bool:
    """Clear an admin's failed logins and lock; whether it was locked."""
    was_locked = admin.locked_until is not None and _aware(admin.locked_until) > _now()
    admin.failed_logins, admin.failed_logins_since, admin.locked_until = 0, None, None
    db.session.commit()
    return was_locked


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def snapshot(admin: AdminUser) -> dict:
    """What the audit log keeps of an admin: never the password hash."""
    return {"username": admin.username, "role": admin.role, "active": admin.is_active,
            "locked_until": _aware(admin.locked_until) if admin.locked_until else None}


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("no such admin: this hash only spends the same time")


def check_credentials(username: str, password: str) -> tuple[AdminUser | None, bool]:
    """The admin called `username` (None if there is none) and whether `password` is theirs.

    An unknown name still costs one scrypt check, so response times do not tell which names exist.
    """
    admin = find(username) if username and len(username) <= 64 else None
    if admin is None:
        check_password_hash(_dummy_hash(), password)
        return None, False
    return admin, admin.check_password(password)


def authenticate(username: str, password: str) -> AdminUser | None:
    """The active admin with these credentials, or None (no lockout: the login form uses lockout.sign_in)."""
    admin, matches = check_credentials(username, password)
    return admin if admin is not None and matches and admin.is_active else None


def record_login(admin: AdminUser) -> None:
    admin.last_login_at = _now()
    db.session.commit()


def password_fingerprint(admin: AdminUser) -> str:
    """A short digest of the stored hash: kept in the session, so a new password ends old sessions."""
    return hashlib.sha256(admin.password_hash.encode()).hexdigest()[:16]


def issue_token(admin: AdminUser, name: str = "") -> tuple[ApiToken, str]:
    """A new API token for an active admin; returns the row and the clear token, which is never stored."""
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise AccountError(f"a token name has at most {MAX_TOKEN_NAME_LENGTH} characters")
    if not admin.is_active:
        raise AccountError(f"admin {admin.username!r} is disabled; enable it before issuing tokens")
    row, clear = ApiToken.issue(admin, name)
    db.session.add(row)
    db.session.commit()
    return row, clear


def live_token_counts() -> dict[int, int]:
    """Admin id → number of unrevoked tokens."""
    rows = db.session.execute(
        db.select(ApiToken.admin_id, func.count()).where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.admin_id)
    )
    return {admin_id: count for admin_id, count in rows}


def tokens_of(admin: AdminUser) -> list[ApiToken]:
    return list(db.session.execute(
        db.select(ApiToken).where(ApiToken.admin_id == admin.id).order_by(ApiToken.id)
    ).scalars())


def revoke_token(token_id: int) -> tuple[ApiToken, bool]:
    """Revoke a token by id; returns it and whether it was live until now."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no API token with id {token_id}")
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = _now()
    db.session.commit()
    return row, True


def all_admins() -> list[AdminUser]:
    return list(db.session.execute(db.select(AdminUser).order_by(AdminUser.username)).scalars())
