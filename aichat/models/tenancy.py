"""Tenancy: sites (with their origins, assistant preset, limits and network rules) and the client keys of each."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aichat.extensions import db


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Site(db.Model):
    """A site whose pages and servers call the gateway. JSON columns hold lists and small mappings
    (origins, preset, limits, network rules) checked by aichat/tenancy/specs.py before they are stored.

    Every change to this table or to `client_key` bumps the `tenancy` configuration version in the
    same transaction, so every process reloads its sites and keys.
    """

    __tablename__ = "site"
    # Ids are never reused (SQLite would hand a removed site's to the next): usage rows keep them.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    publishable_key: Mapped[str] = mapped_column(String(64), unique=True)  # pk_…: names the site in a page
    origins: Mapped[str] = mapped_column(Text, default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    preset: Mapped[str] = mapped_column(Text, default="{}")
    limits: Mapped[str] = mapped_column(Text, default="{}")
    ip_allow: Mapped[str] = mapped_column(Text, default="[]")
    ip_deny: Mapped[str] = mapped_column(Text, default="[]")
    # End users' conversations (aichat/chat): merge a browser's anonymous ones into its user's on sign-in; what a
    # client going away does to its answer (stop, or finish and store it); days a conversation is kept (None: ever).
    merge_anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    on_disconnect: Mapped[str] = mapped_column(String(8), default="stop")
    retention_days: Mapped[int | None] = mapped_column(Integer, default=90)
    # The secret the site's backend signs its users' tokens with, Fernet-encrypted like upstream keys; after a
    # rotation the previous one keeps verifying until `identity_secret_previous_until`.
    identity_secret: Mapped[str | None] = mapped_column(Text)
    identity_secret_previous: Mapped[str | None] = mapped_column(Text)
    identity_secret_previous_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)

    keys: Mapped[list[ClientKey]] = relationship(back_populates="site", cascade="all, delete-orphan",
                                                 order_by="ClientKey.id")

    def json(self, column: str):
        return json.loads(getattr(self, column) or "null")


class ClientKey(db.Model):
    """A server caller's key, scoped to one site: stored as its SHA-256 (the key is 256 random bits) with a
    visible prefix to tell keys apart. A rotated key points at the key that replaced it and keeps working
    until `expires_at` (the grace period) or its revocation."""

    __tablename__ = "client_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    models: Mapped[str] = mapped_column(Text, default="[]")
    limits: Mapped[str] = mapped_column(Text, default="{}")
    ip_allow: Mapped[str] = mapped_column(Text, default="[]")
    ip_deny: Mapped[str] = mapped_column(Text, default="[]")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("client_key.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    site: Mapped[Site] = relationship(back_populates="keys")

    def json(self, column: str):
        return json.loads(getattr(self, column) or "null")
