"""Accounts: console admins and their API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from aichat.extensions import db

TOKEN_PREFIX = "aic_"
# Roles, least to most: a viewer reads everything but secrets and changes nothing; an admin changes
# the configuration; an owner also manages admin accounts.
ROLES = ("viewer", "admin", "owner")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to store them (passwords get scrypt)."""
    return hashlib.sha256(token.encode()).hexdigest()


class AdminUser(UserMixin, db.Model):
    """Someone who may use the console and the monitoring API; the password is stored hashed (scrypt)."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    role: Mapped[str] = mapped_column(String(16), default="admin")
    # Failed logins counted since the first of them (a window of AICHAT_LOGIN_LOCK_MINUTES), and until when
    # the account refuses every login: aichat/admin/lockout.py.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_logins_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="admin", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A per-admin API token for `Authorization: Bearer …`; shown once, stored as its SHA-256."""

    __tablename__ = "admin_api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    admin: Mapped[AdminUser] = relationship(back_populates="tokens")

    @classmethod
    def issue(cls, admin: AdminUser, name: str = "") -> tuple[ApiToken, str]:
        """A new token row for `admin` and the clear token, which is never stored."""
        clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return cls(admin=admin, name=name, token_hash=token_digest(clear), prefix=clear[:10]), clear
