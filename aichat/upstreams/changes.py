"""Each change to the upstreams, their keys and the model aliases, with its audit row: what the console does.

The audit actions are the CLI's (`upstreams.add`, `upstreams.keys.add` …), so the audit log reads the same
whichever made a change. Snapshots hold labels and settings, never a key.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy.orm import Session

from aichat import audit
from aichat.crypto import KeyRing
from aichat.gateway.specs import PRIORITY_RANGE, SpecError

from . import aliases, store


def snapshot(session: Session, name: str) -> dict | None:
    """What the audit log keeps of a stored upstream: its settings and its keys' labels, never a key."""
    row = store.find(session, name)
    if row is None:
        return None
    return {"name": row.name, "kind": row.kind, "base_url": row.base_url, "models": row.model_list,
            "default_model": row.default_model, "priority": row.priority, "enabled": row.enabled,
            "keys": [{"label": k.label, "enabled": k.enabled} for k in row.keys]}


def add_upstream(session: Session, values: Mapping, reserved: Collection[str]) -> None:
    row = store.add_upstream(session, values["name"], values["kind"], values["base_url"], values["models"],
                             values.get("default_model") or None, values.get("priority", 0),
                             enabled=values.get("enabled", True), reserved=reserved)
    audit.record("upstreams.add", "upstream", row.name, after=snapshot(session, row.name))


def update_upstream(session: Session, name: str, values: Mapping, reserved: Collection[str]) -> None:
    before = snapshot(session, name)
    store.update_upstream(session, name, base_url=values["base_url"], models=values["models"],
                          default_model=values["default_model"], priority=values["priority"], reserved=reserved)
    after = snapshot(session, name)
    if after != before:
        audit.record("upstreams.update", "upstream", name, before=before, after=after)


def set_enabled(session: Session, name: str, enabled: bool, reserved: Collection[str]) -> bool:
    before = snapshot(session, name)
    _, changed = store.set_enabled(session, name, enabled, reserved)
    if changed:
        audit.record("upstreams.enable" if enabled else "upstreams.disable", "upstream", name, before=before,
                     after=snapshot(session, name))
    return changed


def remove_upstream(session: Session, name: str, reserved: Collection[str]) -> None:
    before = snapshot(session, name)
    store.remove_upstream(session, name, reserved)
    audit.record("upstreams.remove", "upstream", name, before=before)


def move(session: Session, chain: list[tuple[str, int]], name: str, up: bool, reserved: Collection[str]) -> bool:
    """Move `name` one place up or down among `chain` (the movable upstreams in fallback order, with their
    priorities) by rewriting priorities; False when it is already at that end."""
    names = [n for n, _ in chain]
    if name not in names:
        raise SpecError(f"upstream {name!r} cannot be moved here")
    at = names.index(name)
    other = at - 1 if up else at + 1
    if not 0 <= other < len(chain):
        return False
    mine, theirs = chain[at][1], chain[other][1]
    if mine != theirs:
        new = {name: theirs, names[other]: mine}
    else:  # equal priorities are ordered by name: one step past the neighbour puts it on the other side
        low, high = PRIORITY_RANGE
        step = 1 if up else -1
        if not low <= theirs + step <= high:
            new = {name: theirs, names[other]: theirs - step}
        else:
            new = {name: theirs + step}
    befores = {n: snapshot(session, n) for n in new}
    store.set_priorities(session, new, reserved)
    for n in new:
        audit.record("upstreams.update", "upstream", n, before=befores[n], after=snapshot(session, n))
    return True


def add_key(session: Session, keyring: KeyRing, name: str, label: str, secret: str, reserved: Collection[str]) -> None:
    key = store.add_key(session, keyring, name, label, secret, reserved)
    audit.record("upstreams.keys.add", "upstream_key", f"{name}/{key.label}",
                 after={"upstream": name, "label": key.label, "enabled": key.enabled})


def set_key_enabled(session: Session, name: str, label: str, enabled: bool, reserved: Collection[str]) -> bool:
    _, changed = store.set_key_enabled(session, name, label, enabled, reserved)
    if changed:
        audit.record("upstreams.keys.enable" if enabled else "upstreams.keys.disable", "upstream_key",
                     f"{name}/{label}", before={"enabled": not enabled}, after={"enabled": enabled})
    return changed


def remove_key(session: Session, name: str, label: str, reserved: Collection[str]) -> None:
    store.remove_key(session, name, label, reserved)
    audit.record("upstreams.keys.remove", "upstream_key", f"{name}/{label}", before={"upstream": name, "label": label})


def set_alias(session: Session, settings: Mapping, name: str, target: str) -> None:
    before, after = aliases.set_alias(session, settings, name, target)
    if before != after:
        audit.record("upstreams.aliases.set", "model_alias", name.strip(),
                     before=None if before is None else {"target": before}, after={"target": after})


def remove_alias(session: Session, settings: Mapping, name: str) -> None:
    target = aliases.remove_alias(session, settings, name)
    audit.record("upstreams.aliases.remove", "model_alias", name, before={"target": target})
