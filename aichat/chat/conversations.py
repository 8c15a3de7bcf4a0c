"""Conversations and their messages in the database, every read and write scoped to one (site, owner).

Plain Python over a session. An id that is unknown, or belongs to another owner or another site, is the
same `ConversationNotFound`: the caller cannot tell them apart. Ids are opaque (`c_`/`m_` + 22 base64url characters,
128 random bits). Listings page by (updated_at, public_id) with a cursor, never by OFFSET.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from aichat.models import ChatMessage, Conversation

CONVERSATION_ID_PATTERN = r"^c_[A-Za-z0-9_-]{22}$"
CONVERSATION_ID = re.compile(CONVERSATION_ID_PATTERN)
ROLES = ("user", "assistant")
STATUSES = ("complete", "partial", "error", "streaming")
PAGE_DEFAULT, PAGE_MAX = 50, 100
TITLE_CHARS = 60  # of its first message: the title of a conversation that has none
IMPORT_MESSAGES_MAX = 200  # a browser keeps at most this many messages of a conversation


class ConversationNotFound(LookupError):
    """No conversation of this owner has that id."""


class InvalidCursor(ValueError):
    """A `before` cursor this server did not make."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose conversations: one site's, one end user's (`user:<id>` or `anon:<hash>`)."""

    site_id: int
    owner: str


def new_id(prefix: str) -> str:
    """An opaque id: the prefix and 16 random bytes in base64url (22 characters)."""
    return prefix + secrets.token_urlsafe(16)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite: naive UTC


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _time(moment: datetime) -> str:
    return _aware(moment).isoformat(timespec="microseconds")  # always the same width: strings sort as times


def conversation_dict(row: Conversation) -> dict[str, Any]:
    return {"id": row.public_id, "title": row.title, "created_at": _time(row.created_at),
            "updated_at": _time(row.updated_at), "message_count": row.message_count}


def message_dict(row: ChatMessage) -> dict[str, Any]:
    return {"id": row.public_id, "role": row.role, "content": row.content, "created_at": _time(row.created_at),
            "status": row.status}


def with_messages(row: Conversation) -> dict[str, Any]:
    return {**conversation_dict(row), "messages": [message_dict(m) for m in row.messages]}


# --- cursors -----------------------------------------------------------------------
# A cursor is the last conversation's updated_at (microseconds since the epoch) and id: every string of this
# shape is a place in the order, so any cursor the OpenAPI document allows is served.
CURSOR_PATTERN = r"^[0-9]{1,16}-c_[A-Za-z0-9_-]{22}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def cursor_of(row: Conversation) -> str:
    return f"{(_aware(row.updated_at) - _EPOCH) // _MICROSECOND}-{row.public_id}"


def parse_cursor(cursor: str) -> tuple[datetime, str]:
    """(updated_at, public_id) of the last conversation of the page before; InvalidCursor when it is not one."""
    if not _CURSOR.match(cursor):
        raise InvalidCursor("before must be the next cursor of a page (digits, '-', a conversation id)")
    micros, _, public_id = cursor.partition("-")
    return _EPOCH + int(micros) * _MICROSECOND, public_id


# --- reading -----------------------------------------------------------------------


def mine(who: Owner):
    """The rows of this owner (site and end user)."""
    return and_(Conversation.site_id == who.site_id, Conversation.owner == who.owner)


def page(session: Session, who: Owner, limit: int = PAGE_DEFAULT,
         before: tuple[datetime, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the owner's conversations, the newest updated first, and the cursor of the next (or None)."""
    query = select(Conversation).where(mine(who))
    if before is not None:
        moment, public_id = before
        query = query.where(or_(Conversation.updated_at < moment,
                                and_(Conversation.updated_at == moment, Conversation.public_id < public_id)))
    rows = list(session.execute(query.order_by(Conversation.updated_at.desc(), Conversation.public_id.desc())
                                .limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return [conversation_dict(row) for row in rows], (cursor_of(rows[-1]) if more else None)


def find(session: Session, who: Owner, public_id: str) -> Conversation:
    """The owner's conversation `public_id`; ConversationNotFound for anyone else's and for an unknown one."""
    if not CONVERSATION_ID.match(public_id or ""):
        raise ConversationNotFound(public_id)
    row = session.execute(select(Conversation).where(mine(who), Conversation.public_id == public_id)
                          ).scalar_one_or_none()
    if row is None:
        raise ConversationNotFound(public_id)
    return row


def export(session: Session, who: Owner) -> list[dict[str, Any]]:
    """Every conversation of the owner with its messages, newest updated first (a user's copy of their data)."""
    rows = session.execute(select(Conversation).where(mine(who))
                           .order_by(Conversation.updated_at.desc(), Conversation.public_id.desc())).scalars()
    found = list(rows)
    messages: dict[int, list[dict[str, Any]]] = {row.id: [] for row in found}
    if found:
        query = (select(ChatMessage).where(ChatMessage.conversation_id.in_(
            select(Conversation.id).where(mine(who)))).order_by(ChatMessage.id))
        for message in session.execute(query).scalars():
            messages.setdefault(message.conversation_id, []).append(message_dict(message))
    return [{**conversation_dict(row), "messages": messages[row.id]} for row in found]


# --- changing: each commits ------------------------------------------------------


def create(session: Session, who: Owner, title: str = "") -> dict[str, Any]:
    now = _now()
    row = Conversation(public_id=new_id("c_"), site_id=who.site_id, owner=who.owner, title=title,
                       message_count=0, created_at=now, updated_at=now)
    session.add(row)
    session.commit()
    return conversation_dict(row)


def title_from(text: str) -> str:
    """The title a conversation without one takes from its first question."""
    return " ".join(text.split())[:TITLE_CHARS]


def import_transcript(session: Session, who: Owner, title: str, messages: Sequence[tuple[str, str]],
                      created_at: datetime | None = None) -> dict[str, Any]:
    """A conversation made from a transcript kept elsewhere (a browser's, at sign-in), its messages `complete`.

    It counts as used now (updated_at), so the listing shows it first and retention does not take it at once;
    `created_at` is kept when it is not in the future."""
    now = _now()
    started = min(created_at, now) if created_at is not None else now
    first = next((content for role, content in messages if role == "user"), "")
    row = Conversation(public_id=new_id("c_"), site_id=who.site_id, owner=who.owner, title=title or title_from(first),
                       message_count=len(messages), created_at=started, updated_at=now)
    session.add(row)
    session.flush()
    session.execute(insert(ChatMessage), [
        {"public_id": new_id("m_"), "conversation_id": row.id, "role": role, "content": content,
         "status": "complete", "created_at": started} for role, content in messages])
    session.commit()
    return conversation_dict(row)


def rename(session: Session, who: Owner, public_id: str, title: str) -> dict[str, Any]:
    row = find(session, who, public_id)
    row.title = title
    row.updated_at = _now()
    session.commit()
    return conversation_dict(row)


def remove(session: Session, who: Owner, public_id: str) -> None:
    row = find(session, who, public_id)
    _delete(session, Conversation.id == row.id)
    session.commit()


def erase(session: Session, who: Owner) -> int:
    """Delete every conversation of the owner (a user's erasure); how many."""
    count = _delete(session, mine(who))
    session.commit()
    return count


def claim(session: Session, site_id: int, session_owner: str, user_owner: str) -> int:
    """Move an anonymous session's conversations to the signed-in user of the same site; how many moved."""
    moved = session.execute(update(Conversation).where(Conversation.site_id == site_id,
                                                       Conversation.owner == session_owner)
                            .values(owner=user_owner)).rowcount
    session.commit()
    return moved


def add_message(session: Session, conversation: Conversation, role: str, content: str, status: str = "complete",
                request_id: str | None = None) -> ChatMessage:
    """Append a message (in the caller's transaction): the conversation's count and updated_at follow."""
    if role not in ROLES or status not in STATUSES:
        raise ValueError(f"role {role!r} or status {status!r} is not one of {ROLES} / {STATUSES}")
    message = ChatMessage(public_id=new_id("m_"), conversation_id=conversation.id, role=role, content=content,
                          status=status, request_id=request_id, created_at=_now())
    session.add(message)
    conversation.message_count = (conversation.message_count or 0) + 1
    conversation.updated_at = message.created_at
    return message


def delete_where(session: Session, condition) -> int:
    """Delete the conversations matching `condition`, their messages first (SQLite does not cascade); how many.
    In the caller's transaction."""
    return _delete(session, condition)


def _delete(session: Session, condition) -> int:
    chosen = select(Conversation.id).where(condition)
    session.execute(delete(ChatMessage).where(ChatMessage.conversation_id.in_(chosen))
                    .execution_options(synchronize_session=False))
    return session.execute(delete(Conversation).where(condition).execution_options(synchronize_session=False)
                           ).rowcount
