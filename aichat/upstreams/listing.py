"""What the listings show: every upstream the gateway is built from, each key by label and hint with its state.

A key's state comes from its own flag and from the usage log: an `upstream_key_invalid` error with
no success since means the gateway has benched it. Nothing here holds or returns a secret.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from aichat.crypto import hint
from aichat.gateway.specs import UpstreamSpec, environment_specs
from aichat.models import AIUsageLog, Upstream

from . import store

KEY_INVALID = "upstream_key_invalid"  # aichat.providers.base.KeyInvalid.code
STATE_WINDOW = timedelta(days=30)  # how far back the usage log is read for a key's state


@dataclass
class KeyView:
    label: str
    hint: str  # first and last 4 characters, never more
    enabled: bool
    state: str = "active"  # active | disabled | benched
    why: str | None = None  # why benched: the refusal that benched it
    last_used_at: datetime | None = None
    last_error_code: str | None = None
    last_error_at: datetime | None = None


@dataclass
class UpstreamView:
    name: str
    kind: str
    source: str  # environment | database
    base_url: str
    models: list[str]
    default_model: str
    priority: int
    enabled: bool
    keys: list[KeyView] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_dict(self) -> dict:
        """JSON-ready: times in ISO 8601 UTC."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    return value


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite returns naive UTC
        return moment.replace(tzinfo=timezone.utc)
    return moment


def environment_names(settings: Mapping) -> set[str]:
    """Names the environment defines (`openai`, `gemini` when their keys are set): no database upstream takes them."""
    return {spec.name for spec in environment_specs(settings)}


def views(session: Session, settings: Mapping) -> list[UpstreamView]:
    """The environment's upstreams, then the database's, by name."""
    found = [_from_spec(spec) for spec in environment_specs(settings)]
    found += [_from_row(row) for row in store.all_upstreams(session)]
    for upstream in found:
        _add_usage(session, upstream)
    return found


def view(session: Session, settings: Mapping, name: str) -> UpstreamView:
    """One upstream by name, or a SpecError saying there is none."""
    spec = next((s for s in environment_specs(settings) if s.name == name), None)
    found = _from_spec(spec) if spec else _from_row(store.get(session, name))
    _add_usage(session, found)
    return found


def _from_spec(spec: UpstreamSpec) -> UpstreamView:
    keys = [KeyView(k.label, hint(k.secret), k.enabled) for k in spec.keys]
    return UpstreamView(spec.name, spec.kind, spec.source, spec.base_url, list(spec.models), spec.default_model,
                        spec.priority, spec.enabled, keys)


def _from_row(row: Upstream) -> UpstreamView:
    keys = [KeyView(k.label, k.hint, k.enabled, last_used_at=_utc(k.last_used_at), last_error_code=k.last_error_code,
                    last_error_at=_utc(k.last_error_at)) for k in row.keys]
    return UpstreamView(row.name, row.kind, "database", row.base_url, row.model_list, row.default_model, row.priority,
                        row.enabled, keys, _utc(row.created_at), _utc(row.updated_at))


def _upstream_column():
    # Usage rows name the upstream in `upstream` where that column exists; before, `provider` holds the name.
    return AIUsageLog.upstream if hasattr(AIUsageLog, "upstream") else AIUsageLog.provider


def _add_usage(session: Session, upstream: UpstreamView) -> None:
    """Each key's last use, last error and bench from the usage log of the last STATE_WINDOW."""
    if not upstream.keys:
        return
    column = _upstream_column()
    mine = (column == upstream.name, AIUsageLog.key_label.in_([k.label for k in upstream.keys]),
            AIUsageLog.created_at >= datetime.now(timezone.utc) - STATE_WINDOW)
    latest = {row.key_label: row for row in session.execute(
        select(AIUsageLog.key_label, func.max(AIUsageLog.created_at).label("used"),
               func.max(case((AIUsageLog.status == "success", AIUsageLog.created_at))).label("success"),
               func.max(case((AIUsageLog.status == "error", AIUsageLog.created_at))).label("error"),
               func.max(case((AIUsageLog.error_code == KEY_INVALID, AIUsageLog.created_at))).label("invalid"))
        .where(*mine).group_by(AIUsageLog.key_label))}
    for key in upstream.keys:
        row = latest.get(key.label)
        if row is not None:
            key.last_used_at = _newest(key.last_used_at, _utc(row.used))
            if row.error and (key.last_error_at is None or _utc(row.error) >= key.last_error_at):
                key.last_error_at = _utc(row.error)
                key.last_error_code = _error_code(session, mine, key.label, row.error)
        if not key.enabled:
            key.state = "disabled"
        elif row is not None and row.invalid and (row.success is None or row.success < row.invalid):
            key.state = "benched"
            status = _status_at(session, mine, key.label, row.invalid)
            key.why = (f"{KEY_INVALID}{f' (HTTP {status})' if status else ''} "
                       f"since {_utc(row.invalid):%Y-%m-%d %H:%M} UTC")


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((m for m in (a, b) if m is not None), default=None)


def _error_code(session: Session, mine: tuple, label: str, at: datetime) -> str | None:
    return session.execute(select(AIUsageLog.error_code).where(*mine, AIUsageLog.key_label == label,
                                                               AIUsageLog.created_at == at).limit(1)).scalar()


def _status_at(session: Session, mine: tuple, label: str, at: datetime) -> int | None:
    return session.execute(select(AIUsageLog.http_status).where(*mine, AIUsageLog.key_label == label,
                                                                AIUsageLog.created_at == at,
                                                                AIUsageLog.error_code == KEY_INVALID).limit(1)).scalar()

