"""The audit log as the console reads it: filtered by who, what and when, newest first, a page at a time.

Pages are cut by keyset on (created_at, id), never OFFSET: a cursor names the last row shown, and the
next page starts just past it, using the created_at index whatever the page's number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aichat.models import AuditEvent


@dataclass(frozen=True)
class Filter:
    """Who (actor), what (action, target type, target) and when ([start, end) in UTC); empty: any."""

    actor: str | None = None
    action: str | None = None  # an action, or a prefix ending in a dot: `users.` is every users.* action
    target_type: str | None = None
    target: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just past the row (at, id), going older, or going newer."""

    at: datetime
    id: int
    newer: bool = False

    def token(self) -> str:
        return f"{'n' if self.newer else 'o'}{self.at.astimezone(timezone.utc).strftime('%Y%m%dT%H%M%S.%f')}_{self.id}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """The cursor a token names, or None for a token that is missing or malformed (the first page)."""
        if not token or token[0] not in "no":
            return None
        try:
            when, _, row_id = token[1:].partition("_")
            at = datetime.strptime(when, "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
            return cls(at, int(row_id), token[0] == "n")
        except ValueError:
            return None


@dataclass
class Page:
    rows: list[AuditEvent]
    newer: Cursor | None = None  # the cursor of the page before (newer rows), if there are any
    older: Cursor | None = None
    changes: dict[int, list[tuple[str, object, object]]] = field(default_factory=dict)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def search(session: Session, where: Filter, cursor: Cursor | None = None, size: int = 50) -> Page:
    """One page of events matching `where`, newest first, starting past `cursor`."""
    query = select(AuditEvent)
    for condition in _conditions(where):
        query = query.where(condition)
    newer = cursor is not None and cursor.newer
    if cursor is not None:
        # The plain bound first, so the created_at index starts the scan at the cursor; the OR breaks ties.
        at = cursor.at
        if newer:
            query = query.where(AuditEvent.created_at >= at, or_(AuditEvent.created_at > at, and_(
                AuditEvent.created_at == at, AuditEvent.id > cursor.id)))
        else:
            query = query.where(AuditEvent.created_at <= at, or_(AuditEvent.created_at < at, and_(
                AuditEvent.created_at == at, AuditEvent.id < cursor.id)))
    order = (AuditEvent.created_at.asc(), AuditEvent.id.asc()) if newer else (AuditEvent.created_at.desc(),
                                                                               AuditEvent.id.desc())
    rows = list(session.execute(query.order_by(*order).limit(size + 1)).scalars())
    more = len(rows) > size
    rows = rows[:size]
    if newer:
        rows.reverse()
    page = Page(rows, changes={row.id: changes(row) for row in rows})
    if rows:
        first, last = rows[0], rows[-1]
        if cursor is not None and (not newer or more):
            page.newer = Cursor(_aware(first.created_at), first.id, newer=True)
        if newer or more:
            page.older = Cursor(_aware(last.created_at), last.id)
    return page


def _conditions(where: Filter) -> list:
    found = []
    if where.actor:
        found.append(AuditEvent.actor == where.actor)
    if where.action:
        found.append(AuditEvent.action.startswith(where.action, autoescape=True) if where.action.endswith(".")
                     else AuditEvent.action == where.action)
    if where.target_type:
        found.append(AuditEvent.target_type == where.target_type)
    if where.target:
        found.append(AuditEvent.target == where.target)
    if where.start is not None:
        found.append(AuditEvent.created_at >= where.start)
    if where.end is not None:
        found.append(AuditEvent.created_at < where.end)
    return found


def changes(row: AuditEvent) -> list[tuple[str, object, object]]:
    """(field, before, after) for each field that differs; a field absent on one side is None there.
    The snapshots were masked when they were written."""
    before = json.loads(row.before) if row.before else {}
    after = json.loads(row.after) if row.after else {}
    return [(name, before.get(name), after.get(name)) for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name) or not before or not after]


def suggested_actions(page: Page) -> list[str]:
    """Actions to offer in the filter: those on the page and the groups they belong to (`users.`). Read from the
    page itself: a DISTINCT over the whole log would scan it on every view."""
    found = {row.action for row in page.rows}
    return sorted(found | {action.split(".")[0] + "." for action in found if "." in action})
