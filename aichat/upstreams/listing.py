"""What the listings show: every upstream the gateway is built from, each key by label and hint with its state.

A key's state comes from its own flag and from the usage log: an `upstream_key_invalid` error with
no success since means the gateway has benched it. Nothing here holds or returns a secret.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
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
    why: str | None = None  # why benched: the refusal that benched it, in words (the CLI prints it)
    benched_at: datetime | None = None  # when, and the HTTP status of, that refusal (pages word it themselves)
    benched_status: int | None = None
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
    """Each key's last use, last error and bench from the usage log of the last STATE_WINDOW.

    Each answer is the newest row of one (upstream, key, status), a seek in the index on those columns and
    created_at, so a log of millions of rows costs a few lookups per key, not a scan of its month.
    """
    if not upstream.keys:
        return
    since = datetime.now(timezone.utc) - STATE_WINDOW
    for key in upstream.keys:
        mine = (_upstream_column() == upstream.name, AIUsageLog.key_label == key.label, AIUsageLog.created_at >= since)
        newest = {status: _newest_at(session, mine, AIUsageLog.status == status)
                  for status in ("success", "error", "cancelled")}
        success, error = newest["success"], newest["error"]
        used = _newest(_newest(success, error), newest["cancelled"])
        key.last_used_at = _newest(key.last_used_at, _utc(used))
        if error and (key.last_error_at is None or _utc(error) >= key.last_error_at):
            key.last_error_at = _utc(error)
            key.last_error_code = _error_code(session, mine, error)
        # Benched: refused as invalid after its last success; only the errors since that success are read.
        invalid = None
        if error is not None and (success is None or success < error):
            after = () if success is None else (AIUsageLog.created_at > success,)
            invalid = _newest_at(session, mine, AIUsageLog.status == "error", AIUsageLog.error_code == KEY_INVALID,
                                 *after)
        if not key.enabled:
            key.state = "disabled"
        elif invalid is not None:
            key.state = "benched"
            status = _status_at(session, mine, invalid)
            key.benched_at, key.benched_status = _utc(invalid), status
            key.why = (f"{KEY_INVALID}{f' (HTTP {status})' if status else ''} "
                       f"since {_utc(invalid):%Y-%m-%d %H:%M} UTC")


def _newest_at(session: Session, mine: tuple, *conditions) -> datetime | None:
    return session.execute(select(AIUsageLog.created_at).where(*mine, *conditions)
                           .order_by(AIUsageLog.created_at.desc()).limit(1)).scalar()


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((m for m in (a, b) if m is not None), default=None)


def _error_code(session: Session, mine: tuple, at: datetime) -> str | None:
    return session.execute(select(AIUsageLog.error_code).where(*mine, AIUsageLog.status == "error",
                                                               AIUsageLog.created_at == at).limit(1)).scalar()


def _status_at(session: Session, mine: tuple, at: datetime) -> int | None:
    return session.execute(select(AIUsageLog.http_status).where(*mine, AIUsageLog.status == "error",
                                                                AIUsageLog.created_at == at,
                                                                AIUsageLog.error_code == KEY_INVALID).limit(1)).scalar()

