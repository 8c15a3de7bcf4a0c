"""Admin accounts: the rules for names and passwords, creation, login checks and API tokens."""
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

MIN_PASSWORD_LENGTH = 12
# scrypt takes any length, but a megabyte "password" is an attack on our CPU, not a password.
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_NAME_LENGTH = 64
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


class AccountError(ValueError):
    """A refused account operation; the message is meant for the operator."""


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


def create_admin(username: str, password: str) -> AdminUser:
    """A new active admin."""
    check_available(username)
    check_password(password)
    admin = AdminUser(username=username, is_active=True)
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
    admin.is_active = active
    db.session.commit()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash("no such admin: this hash only spends the same time")


def authenticate(username: str, password: str) -> AdminUser | None:
    """The active admin with these credentials, or None.

    An unknown name still costs one scrypt check, so response times do not tell which names exist.
    """
    admin = find(username) if username and len(username) <= 64 else None
    if admin is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not admin.check_password(password) or not admin.is_active:
        return None
    return admin


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
