"""The admin's view of a site's conversations: search by end user or dates, read one, delete one, and a user's
export and erasure. Plain Python over a session.

A search pages newest updated first by (updated_at, public_id), both ways, with the same cursors as the end users' listing,
walking the (site_id, owner, updated_at) or (site_id, updated_at) index: never OFFSET, never a COUNT.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aichat.models import ChatMessage, Conversation, Site
from aichat.models.chat import OWNER_MAX

from .conversations import (CONVERSATION_ID, ConversationNotFound, Owner, cursor_of, delete_where, erase, export,
                            parse_cursor)

PAGE_ROWS = 50
OWNER_KINDS = ("user:", "anon:")


@dataclass(frozen=True)
class Search:
    """What an admin looks for in one site: an end user (None: anyone) and local days (None: unbounded)."""

    site_id: int
    owner: str | None = None
    first: date | None = None
    last: date | None = None
    zone: ZoneInfo = ZoneInfo("UTC")


def owner_of(text: str) -> str | None:
    """The stored owner an admin means: `user:<id>` or `anon:<hash>` as given, else an external user id."""
    clean = (text or "").strip()
    if not clean:
        return None
    owner = clean if clean.startswith(OWNER_KINDS) else f"user:{clean}"
    if len(owner) > OWNER_MAX or not owner.isprintable():
        raise ValueError(f"a user id is at most {OWNER_MAX - 5} printable characters")
    return owner


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite: naive UTC


def _start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def search(session: Session, wanted: Search, before: str | None = None, after: str | None = None,
           limit: int = PAGE_ROWS) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """One page of the site's conversations that match, newest updated first, with the cursors of the older and
    the newer page (None where there is none). `before` pages towards older ones, `after` back towards newer."""
    query = select(Conversation).where(Conversation.site_id == wanted.site_id)
    if wanted.owner is not None:
        query = query.where(Conversation.owner == wanted.owner)
    if wanted.first is not None:
        query = query.where(Conversation.updated_at >= _start(wanted.first, wanted.zone))
    if wanted.last is not None:
        query = query.where(Conversation.updated_at < _start(wanted.last + timedelta(days=1), wanted.zone))
    key = (Conversation.updated_at, Conversation.public_id)
    if after:
        # Back towards the newest: the rows just above the cursor, read upwards, then shown newest first.
        moment, public_id = parse_cursor(after)
        query = query.where(or_(key[0] > moment, and_(key[0] == moment, key[1] > public_id)))
        rows = list(session.execute(query.order_by(key[0].asc(), key[1].asc()).limit(limit + 1)).scalars())
        newer = len(rows) > limit
        rows = rows[:limit][::-1]
        return ([listed(row) for row in rows], cursor_of(rows[-1]) if rows else None,
                cursor_of(rows[0]) if newer and rows else None)
    if before:
        moment, public_id = parse_cursor(before)
        query = query.where(or_(key[0] < moment, and_(key[0] == moment, key[1] < public_id)))
    rows = list(session.execute(query.order_by(key[0].desc(), key[1].desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return ([listed(row) for row in rows], cursor_of(rows[-1]) if more else None,
            cursor_of(rows[0]) if before and rows else None)


def listed(row: Conversation) -> dict[str, Any]:
    return {"id": row.public_id, "owner": row.owner, "title": row.title, "message_count": row.message_count,
            "created_at": _aware(row.created_at), "updated_at": _aware(row.updated_at)}


def find(session: Session, public_id: str) -> Conversation:
    """Any site's conversation by its public id; ConversationNotFound when there is none."""
    if not CONVERSATION_ID.match(public_id or ""):
        raise ConversationNotFound(public_id)
    row = session.execute(select(Conversation).where(Conversation.public_id == public_id)).scalar_one_or_none()
    if row is None:
        raise ConversationNotFound(public_id)
    return row


def read(session: Session, public_id: str) -> dict[str, Any]:
    """A conversation with its site and messages, oldest message first."""
    row = find(session, public_id)
    site = session.get(Site, row.site_id)
    messages = session.execute(select(ChatMessage).where(ChatMessage.conversation_id == row.id)
                               .order_by(ChatMessage.id)).scalars()
    return {**listed(row), "site": site.domain if site else None,
            "messages": [{"id": m.public_id, "role": m.role, "content": m.content, "status": m.status,
                          "request_id": m.request_id, "created_at": _aware(m.created_at)} for m in messages]}


def audit_record(row: Conversation, site: str | None) -> dict[str, Any]:
    """What the audit log keeps of a conversation: whose and how big, never what was said (not even its title)."""
    return {"id": row.public_id, "site": site, "owner": row.owner, "message_count": row.message_count}


def delete_one(session: Session, public_id: str) -> dict[str, Any]:
    """Delete a conversation and its messages, committed; its audit record."""
    row = find(session, public_id)
    site = session.get(Site, row.site_id)
    record = audit_record(row, site.domain if site else None)
    delete_where(session, Conversation.id == row.id)
    session.commit()
    return record


def export_user(session: Session, site_id: int, owner: str) -> dict[str, Any]:
    """A user's data on one site, in the shape the end users' own export has."""
    return {"conversations": export(session, Owner(site_id, owner))}


def erase_user(session: Session, site_id: int, owner: str) -> int:
    """Delete every conversation of a user on one site, committed; how many."""
    return erase(session, Owner(site_id, owner))
