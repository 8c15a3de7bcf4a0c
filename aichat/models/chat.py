"""Chat: the conversations of a site's end users and their messages, stored only for conversations.

An owner is `user:<user id>` (a signed-in user, named by the site's signed token or by a client key) or
`anon:<SHA-256 hex>` (a browser's anonymous session: its id is never stored, only this hash). Every
lookup is by (site_id, owner), so one index serves the listing, the export and the erasure.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aichat.extensions import db

from .types import BigId

OWNER_MAX = 140  # "user:" + a user id of up to 128 characters, or "anon:" + 64 hex digits
TITLE_MAX = 200


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Conversation(db.Model):
    """One end user's conversation on one site; `public_id` (c_…) is the only id that leaves the server."""

    __tablename__ = "conversation"
    __table_args__ = (
        # The listing pages newest first by (updated_at, public_id) within one owner: an index walk, never OFFSET.
        Index("ix_conversation_owner_updated", "site_id", "owner", "updated_at"),
        # The retention job deletes a site's conversations last updated before a cutoff.
        Index("ix_conversation_site_updated", "site_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(24), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(OWNER_MAX))
    title: Mapped[str] = mapped_column(String(TITLE_MAX), default="")
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    messages: Mapped[list[ChatMessage]] = relationship(back_populates="conversation", cascade="all, delete-orphan",
                                                       passive_deletes=True, order_by="ChatMessage.id")


class ChatMessage(db.Model):
    """A message of a conversation; `request_id` links the usage rows of the call that produced it."""

    __tablename__ = "chat_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(24), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="complete")
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
