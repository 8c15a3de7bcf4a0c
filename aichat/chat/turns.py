"""A conversation's turn: its history read before the call, its question and answer stored after it.

Plain Python over a session. The ids of both messages are made when the call starts, so the answer can
name them before anything is written; storing a turn twice (a retried write whose first commit landed)
finds them and does nothing. What the answer's status is follows from how the call ended: a stream the
client stopped, or one that broke after some text, is `partial`; a call that failed before any text
stores nothing, so the page's retry does not ask the question twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Integer, bindparam, case, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aichat.gateway.attempt import SUCCESS, CallOutcome
from aichat.models import ChatMessage, Conversation
from aichat.providers.base import Message

from .context import FRAMING
from .conversations import CONVERSATION_ID, ConversationNotFound, Owner, new_id, title_from


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class Turn:
    """One question to a conversation and the ids its messages will have; carried by the call's context."""

    conversation: int  # the conversation's row id
    conversation_id: str  # its public id (c_…)
    question: str
    request_id: str
    question_id: str = field(default_factory=lambda: new_id("m_"))
    answer_id: str = field(default_factory=lambda: new_id("m_"))
    asked_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Answer:
    """What is stored for a turn once its call has ended."""

    turn: Turn
    content: str
    status: str  # complete | partial
    answered_at: datetime


def answer_of(outcome: CallOutcome) -> Answer | None:
    """The answer to store for a conversation's call, or None: not a conversation's, or no text came."""
    turn = outcome.ctx.turn
    if not isinstance(turn, Turn):
        return None
    content = outcome.content or ""
    if outcome.status == SUCCESS:
        return Answer(turn, content, "complete", _now())
    if not content:
        return None  # failed before any text: the question is not stored either, the page asks again
    return Answer(turn, content, "partial", _now())  # stopped by the client, broken, or ended by a stop


# Built once (building it costs more than running it): the conversation, found only for its owner, and its newest
# messages, in one query.
_HISTORY = (select(Conversation.id, ChatMessage.role, ChatMessage.content)
            .select_from(Conversation).outerjoin(ChatMessage, ChatMessage.conversation_id == Conversation.id)
            .where(Conversation.site_id == bindparam("site_id"), Conversation.owner == bindparam("owner"),
                   Conversation.public_id == bindparam("public_id"))
            .order_by(ChatMessage.id.desc()).limit(bindparam("limit", type_=Integer)))


def history(session: Session, who: Owner, public_id: str, budget: int,
            max_messages: int) -> tuple[int, list[Message]]:
    """The owner's conversation `public_id` (its row id) and its newest stored messages that could fit `budget`
    tokens and `max_messages`, oldest first; ConversationNotFound for anyone else's and for an unknown one.

    One query on the request path, past the ORM (this is the chat path's only read). At most what could fit
    is read (every message costs at least its framing): a long conversation costs no more than a short one.
    Cut, it starts at a question, never at an answer whose question was left out.
    """
    if not CONVERSATION_ID.match(public_id or ""):
        raise ConversationNotFound(public_id)
    limit = min(max_messages, budget // FRAMING + 1)
    rows = session.connection().execute(_HISTORY, {"site_id": who.site_id, "owner": who.owner,
                                                   "public_id": public_id, "limit": limit}).all()
    if not rows:
        raise ConversationNotFound(public_id)
    messages = [Message(role, content) for _, role, content in reversed(rows) if role is not None]
    if len(rows) == limit:
        while messages and messages[0].role != "user":
            messages.pop(0)
    return rows[0][0], messages


def store(session: Session, answer: Answer) -> bool:
    """Add the question and its answer to their conversation and commit; False when the conversation is gone.

    The count, updated_at and an empty title change in one UPDATE, so turns of one conversation ending
    at once in several processes are all counted. Both messages go in one INSERT past the ORM; a retried
    write whose first commit landed meets the answer's unique id and does nothing."""
    turn = answer.turn
    title = title_from(turn.question)
    try:
        changed = session.execute(
            update(Conversation).where(Conversation.id == turn.conversation)
            .values(message_count=Conversation.message_count + 2, updated_at=answer.answered_at,
                    title=case((Conversation.title == "", title), else_=Conversation.title))
            .execution_options(synchronize_session=False)).rowcount
        if not changed:
            session.rollback()
            return False
        session.connection().execute(_MESSAGES, [
            {"public_id": turn.question_id, "conversation_id": turn.conversation, "role": "user",
             "content": turn.question, "status": "complete", "request_id": turn.request_id,
             "created_at": turn.asked_at},
            {"public_id": turn.answer_id, "conversation_id": turn.conversation, "role": "assistant",
             "content": answer.content, "status": answer.status, "request_id": turn.request_id,
             "created_at": answer.answered_at}])
        session.commit()
    except IntegrityError:
        session.rollback()
        if session.execute(select(exists().where(ChatMessage.public_id == turn.answer_id))).scalar():
            return True  # an earlier attempt committed it
        raise
    return True


_MESSAGES = ChatMessage.__table__.insert()
