"""Upstreams kept in the database: read as specs, changed one checked transaction at a time.

Plain Python over a SQLAlchemy session. Every change bumps the configuration version in the
transaction that makes it, so a process that sees a new version rebuilds its gateway from
`database_specs`. Key secrets are encrypted before they reach a row and decrypted only into specs.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from aichat import config_versions as versions
from aichat.crypto import InvalidToken, KeyRing, hint
from aichat.gateway.specs import (KeySpec, SpecError, UpstreamSpec, check_base_url, check_default_model, check_kind,
                                  check_label, check_models, check_name, check_priority, check_secret)
from aichat.models import Upstream, UpstreamKey

log = logging.getLogger(__name__)

CONFIG = "gateway"  # the config_version row that upstream changes bump


def upstream_kinds() -> list[str]:
    """The kinds an upstream may have: every registered provider but the keyless demo."""
    from aichat.providers import kinds

    return [kind for kind in kinds() if kind != "demo"]


# --- reading -----------------------------------------------------------------


def config_version(session: Session) -> int:
    """The current configuration version; 0 before any change."""
    return versions.read(session, CONFIG)


def database_specs(session: Session, keyring: KeyRing) -> list[UpstreamSpec]:
    """Every upstream in the database, disabled ones too, with its keys decrypted; a key that cannot be
    decrypted is left out and logged by upstream and label."""
    specs = []
    for row in _all(session):
        keys = []
        for key in row.keys:
            try:
                keys.append(KeySpec(key.label, keyring.decrypt(key.secret_encrypted), key.enabled))
            except InvalidToken:
                log.error("upstream %s: key %s cannot be decrypted with the encryption keys in use "
                          "(AICHAT_ENCRYPTION_KEY); it is left out", row.name, key.label)
        specs.append(UpstreamSpec(row.name, row.kind, row.base_url, tuple(keys), tuple(row.model_list),
                                  row.default_model, row.priority, row.enabled, "database"))
    return specs


def all_upstreams(session: Session) -> list[Upstream]:
    return list(_all(session))


def _all(session: Session) -> Iterator[Upstream]:
    return session.execute(select(Upstream).options(selectinload(Upstream.keys)).order_by(Upstream.name)).scalars()


def find(session: Session, name: str) -> Upstream | None:
    return session.execute(select(Upstream).where(Upstream.name == name)).scalar_one_or_none()


def get(session: Session, name: str, reserved: Collection[str] = ()) -> Upstream:
    """The database upstream called `name`, or a SpecError saying why there is none to change."""
    row = find(session, name)
    if row is None:
        if name in reserved:
            raise SpecError(f"upstream {name!r} is defined by the environment ({name.upper()}_API_KEY and "
                            f"{name.upper()}_*): change it there")
        raise SpecError(f"no upstream called {name!r} (see `flask upstreams list`)")
    return row


def get_key(upstream: Upstream, label: str) -> UpstreamKey:
    key = next((k for k in upstream.keys if k.label == label), None)
    if key is None:
        raise SpecError(f"upstream {upstream.name!r} has no key labelled {label!r}")
    return key


def undecryptable(session: Session, keyring: KeyRing) -> list[tuple[str, str]]:
    """(upstream, label) of every stored key that no encryption key in use opens."""
    failed = []
    for row in _all(session):
        for key in row.keys:
            try:
                keyring.decrypt(key.secret_encrypted)
            except InvalidToken:
                failed.append((row.name, key.label))
    return failed


# --- changing ----------------------------------------------------------------


def bump_version(session: Session) -> None:
    """Add one to the configuration version in the caller's transaction."""
    versions.bump(session, CONFIG)


def _change(session: Session, conflict: str = ""):
    """One configuration change, committed with its version bump or not at all (aichat/config_versions.py)."""
    return versions.change(session, CONFIG, conflict)


def check_reserved(name: str, reserved: Collection[str]) -> str:
    if name in reserved:
        raise SpecError(f"upstream name {name!r} is taken by the environment ({name.upper()}_API_KEY is set): "
                        f"pick another name")
    return name


def add_upstream(session: Session, name: str, kind: str, base_url: str, models: Iterable[str],
                 default_model: str | None = None, priority: int | str = 0, enabled: bool = True,
                 reserved: Collection[str] = ()) -> Upstream:
    """A new upstream, without keys yet; `reserved` are the names the environment defines."""
    check_reserved(check_name(name), reserved)
    kind = check_kind(kind, upstream_kinds())
    base_url = check_base_url(base_url)
    patterns = check_models(list(models))
    default_model = check_default_model(default_model, patterns)
    priority = check_priority(priority)
    duplicate = f"an upstream called {name!r} already exists"
    with _change(session, duplicate):
        if find(session, name) is not None:
            raise SpecError(duplicate)
        row = Upstream(name=name, kind=kind, base_url=base_url, models=json.dumps(list(patterns)),
                       default_model=default_model, priority=priority, enabled=enabled)
        session.add(row)
    return row


def update_upstream(session: Session, name: str, *, base_url: str | None = None, models: Iterable[str] | None = None,
                    default_model: str | None = None, priority: int | str | None = None,
                    reserved: Collection[str] = ()) -> Upstream:
    """Change what is given; the rest stays."""
    changes: dict = {}
    if base_url is not None:
        changes["base_url"] = check_base_url(base_url)
    if models is not None:
        changes["models"] = json.dumps(list(check_models(list(models))))
    if default_model is not None:
        changes["default_model"] = check_default_model(default_model, ())
    if priority is not None:
        changes["priority"] = check_priority(priority)
    if not changes:
        raise SpecError("nothing to change: give a base URL, models, a default model or a priority")
    with _change(session):
        row = get(session, name, reserved)
        for column, value in changes.items():
            setattr(row, column, value)
    return row


def set_priorities(session: Session, priorities: dict[str, int | str], reserved: Collection[str] = ()) -> None:
    """Several upstreams' priorities in one change (a reordering of the fallback chain)."""
    checked = {name: check_priority(priority) for name, priority in priorities.items()}
    with _change(session):
        for name, priority in checked.items():
            get(session, name, reserved).priority = priority


def set_enabled(session: Session, name: str, enabled: bool, reserved: Collection[str] = ()) -> tuple[Upstream, bool]:
    """Enable or disable an upstream; returns it and whether that changed anything."""
    with _change(session):
        row = get(session, name, reserved)
        changed = row.enabled != enabled
        row.enabled = enabled
    return row, changed


def remove_upstream(session: Session, name: str, reserved: Collection[str] = ()) -> int:
    """Remove an upstream and its keys; returns how many keys went with it."""
    with _change(session):
        row = get(session, name, reserved)
        count = len(row.keys)
        session.delete(row)  # its keys go with it (the ORM deletes them; SQLite may not enforce the cascade)
    return count


def add_key(session: Session, keyring: KeyRing, name: str, label: str, secret: str,
            reserved: Collection[str] = ()) -> UpstreamKey:
    """Store a key, encrypted, under a label unique in its upstream."""
    label = check_label(label)
    secret = check_secret(secret)
    taken = f"upstream {name!r} already has a key labelled {label!r}: remove it first or pick another label"
    with _change(session, taken):
        row = get(session, name, reserved)
        if any(k.label == label for k in row.keys):
            raise SpecError(taken)
        same = next((k.label for k in row.keys if _opens_to(keyring, k, secret)), None)
        if same is not None:
            raise SpecError(f"upstream {name!r} already has this key, labelled {same!r}")
        key = UpstreamKey(label=label, secret_encrypted=keyring.encrypt(secret), hint=hint(secret), enabled=True)
        row.keys.append(key)
    return key


def _opens_to(keyring: KeyRing, key: UpstreamKey, secret: str) -> bool:
    try:
        return keyring.decrypt(key.secret_encrypted) == secret
    except InvalidToken:
        return False


def set_key_enabled(session: Session, name: str, label: str, enabled: bool,
                    reserved: Collection[str] = ()) -> tuple[UpstreamKey, bool]:
    with _change(session):
        key = get_key(get(session, name, reserved), label)
        changed = key.enabled != enabled
        key.enabled = enabled
    return key, changed


def remove_key(session: Session, name: str, label: str, reserved: Collection[str] = ()) -> None:
    with _change(session):
        row = get(session, name, reserved)
        row.keys.remove(get_key(row, label))


@dataclass
class Reencrypted:
    rotated: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (upstream, label) no key in use opens


def reencrypt(session: Session, keyring: KeyRing) -> Reencrypted:
    """Every stored key encrypted anew under the newest encryption key, in one transaction.

    The secrets do not change, so neither does the configuration version: no gateway is rebuilt."""
    result = Reencrypted()
    try:
        for row in _all(session):
            for key in row.keys:
                try:
                    key.secret_encrypted = keyring.rotate(key.secret_encrypted)
                except InvalidToken:
                    result.failed.append((row.name, key.label))
                    continue
                result.rotated += 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result
