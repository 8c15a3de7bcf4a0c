"""Audit: one row per change made by an admin or through the CLI."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aichat.extensions import db

from .types import BigId


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AuditEvent(db.Model):
    """Who changed what, when and from where; `before` and `after` are JSON with every secret masked."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(128))  # an admin's username, or cli:<os user>
    action: Mapped[str] = mapped_column(String(64))  # e.g. users.create, upstreams.keys.add
    target_type: Mapped[str] = mapped_column(String(32))  # admin, upstream, price …
    target: Mapped[str] = mapped_column(String(255))  # its name or id
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(64))  # the client address, or `cli`

    __table_args__ = (
        Index("ix_audit_event_actor_created", "actor", "created_at"),
        Index("ix_audit_event_target_created", "target_type", "target", "created_at"),
    )
