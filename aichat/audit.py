"""The audit log: every change made by an admin (console, API) or through the CLI, with secrets masked.

A change is one line where it is made:

    audit.record("sites.create", "site", site.domain, after=site_fields)

The actor and the address come from where it runs: the signed-in admin and the client address in a
request, `cli:<os user>` and `cli` in a command. `before` and `after` are JSON; every value under a
name that says secret (key, token, password, secret, hash …) and every string shaped like a key is
masked before it is stored, so a careless caller still cannot write one.
"""
from __future__ import annotations

import getpass
import json
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from flask import has_request_context, request
from sqlalchemy import delete, or_, select

from aichat.extensions import db
from aichat.models import AuditEvent

log = logging.getLogger(__name__)

MASK = "***"
PRUNE_JOB = "audit-prune"
PRUNE_INTERVAL = 3600.0  # seconds between prunes; old rows are few and the delete uses the created_at index
# Field names whose values are secrets, wherever they appear in a snapshot.
_SECRET_NAME = re.compile(r"(^|_)(key|keys|secret|secrets|token|tokens|password|passwd|hash|credential|credentials|"
                          r"authorization|api_key|cookie)$", re.IGNORECASE)
# Values shaped like a secret, masked whatever their field is called: OpenAI-style keys, Google API keys,
# aichat's admin tokens and client keys, bearer headers, scrypt and pbkdf2 hashes, Fernet tokens.
_SECRET_VALUE = re.compile(r"sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|aic_[A-Za-z0-9_-]{20,}|"
                           r"Bearer\s+\S{8,}|(scrypt|pbkdf2)[:$]\S+|gAAAAA[A-Za-z0-9_=-]{20,}")


def mask(value, name: str = ""):
    """`value` with every secret replaced by MASK, recursively; dates and decimals become strings."""
    if isinstance(value, Mapping):
        return {str(k): mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [mask(v, name) for v in items]
    if name and _SECRET_NAME.search(name) and value not in (None, "", [], {}) and not isinstance(value, (bool, int)):
        return MASK
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return _SECRET_VALUE.sub(MASK, value)
    return value


def _json(snapshot: Mapping | None) -> str | None:
    if snapshot is None:
        return None
    return json.dumps(mask(snapshot), ensure_ascii=False, sort_keys=True, default=str)


def current_actor() -> tuple[str, str]:
    """(actor, address): the admin and client address of this request, or `cli:<os user>` and `cli`."""
    if not has_request_context():
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no name for this uid (a container): say so
            user = "unknown"
        return f"cli:{user}", "cli"
    from aichat.admin.roles import acting_admin

    admin = acting_admin()
    return (admin.username if admin is not None else "-"), (request.remote_addr or "-")


def record(action: str, target_type: str, target: object, *, before: Mapping | None = None,
           after: Mapping | None = None, actor: str | None = None, address: str | None = None) -> AuditEvent:
    """Record one change (after it is made), masked, in its own commit; returns the row."""
    found_actor, found_address = current_actor() if actor is None or address is None else (actor, address)
    row = AuditEvent(actor=(actor or found_actor)[:128], action=action[:64], target_type=target_type[:32],
                     target=str(target)[:255], before=_json(before), after=_json(after),
                     address=(address or found_address)[:64])
    db.session.add(row)
    db.session.commit()
    return row


def events(since: datetime | None = None, actor: str | None = None, target: str | None = None,
           limit: int = 1000) -> list[AuditEvent]:
    """The newest events first; `target` is a name, a type, or `type:name`."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if target:
        kind, sep, name = target.partition(":")
        if sep:
            query = query.where(AuditEvent.target_type == kind, AuditEvent.target == name)
        else:
            query = query.where(or_(AuditEvent.target == target, AuditEvent.target_type == target))
    return list(db.session.execute(query).scalars())


def as_dict(row: AuditEvent) -> dict:
    """JSON-ready: the time in ISO 8601 UTC, before and after parsed."""
    when = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return {"id": row.id, "at": when.isoformat(), "actor": row.actor, "address": row.address, "action": row.action,
            "target_type": row.target_type, "target": row.target,
            "before": json.loads(row.before) if row.before else None,
            "after": json.loads(row.after) if row.after else None}


def changes(row: AuditEvent) -> str:
    """A short reading of what changed: `role: admin → owner, active: true → false`, or the new fields."""
    before = json.loads(row.before) if row.before else {}
    after = json.loads(row.after) if row.after else {}
    if not before:
        return ", ".join(f"{k}={_short(v)}" for k, v in after.items())
    if not after:
        return "removed"
    return ", ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}"
                     for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k))


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "…"


def prune(retention_days: int) -> int:
    """Delete events older than `retention_days` (0 keeps them all); the rows deleted."""
    if retention_days <= 0:
        return 0
    cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
    deleted = db.session.execute(delete(AuditEvent).where(AuditEvent.created_at < cutoff)).rowcount
    db.session.commit()
    return deleted


def add_prune(jobs, app):
    """The prune as a job of `jobs`: AICHAT_AUDIT_RETENTION_DAYS, hourly, in every process (an idempotent
    delete on an index; a round that finds nothing costs one query)."""

    def run() -> None:
        with app.app_context():
            deleted = prune(app.config["AICHAT_AUDIT_RETENTION_DAYS"])
        if deleted:
            log.info("pruned %d audit events older than %d days", deleted, app.config["AICHAT_AUDIT_RETENTION_DAYS"])

    interval = PRUNE_INTERVAL if app.config["AICHAT_AUDIT_RETENTION_DAYS"] > 0 else 0
    return jobs.every(PRUNE_JOB, interval, run)
