"""Model aliases kept in the database: a name callers may send that stands for another model.

The environment's AICHAT_MODEL_ALIASES (with the built-in ones) win over a stored alias of the same
name and cannot be changed here. Each change bumps the gateway's configuration version, so every
process routes by it within a poll interval, without a restart.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aichat import config_versions as versions
from aichat.gateway.specs import SpecError
from aichat.models import ModelAlias

from .store import CONFIG

# No spaces or control characters (no model name has them) and no wildcards: an alias is one exact name.
_NAME = re.compile(r"[^\s*?]{1,128}")
_TARGET = re.compile(r"[^\s*?]{1,160}")


@dataclass(frozen=True)
class AliasView:
    name: str
    target: str
    source: str  # environment | database


def stored(session: Session) -> dict[str, str]:
    """The database's aliases, name to target."""
    return {row.name: row.target for row in session.execute(select(ModelAlias).order_by(ModelAlias.name)).scalars()}


def views(session: Session, settings: Mapping) -> list[AliasView]:
    """Every alias in force, by name; a stored one the environment overrides is left out."""
    env = settings["AICHAT_MODEL_ALIASES"]
    found = [AliasView(name, target, "environment") for name, target in env.items()]
    found += [AliasView(name, target, "database") for name, target in stored(session).items() if name not in env]
    return sorted(found, key=lambda a: a.name)


def check_name(name: str, settings: Mapping) -> str:
    name = (name or "").strip()
    if not _NAME.fullmatch(name):
        raise SpecError(f"alias {name!r}: 1 to 128 characters, no spaces and no * or ?")
    if name in settings["AICHAT_MODEL_ALIASES"]:
        raise SpecError(f"alias {name!r} is set by the environment (AICHAT_MODEL_ALIASES): change it there")
    return name


def check_target(target: str, name: str = "") -> str:
    target = (target or "").strip()
    if not _TARGET.fullmatch(target):
        raise SpecError(f"alias target {target!r}: a model name or upstream/model, no spaces and no * or ?")
    if target == name:
        raise SpecError(f"alias {name!r} cannot stand for itself")
    return target


def set_alias(session: Session, settings: Mapping, name: str, target: str) -> tuple[str | None, str]:
    """Add or change an alias; returns (the target it had or None, the new target)."""
    name = check_name(name, settings)
    target = check_target(target, name)
    with versions.change(session, CONFIG):
        row = session.get(ModelAlias, name)
        before = row.target if row is not None else None
        if row is None:
            session.add(ModelAlias(name=name, target=target))
        else:
            row.target = target
    return before, target


def remove_alias(session: Session, settings: Mapping, name: str) -> str:
    """Remove a stored alias; returns the target it had."""
    if name in settings["AICHAT_MODEL_ALIASES"]:
        raise SpecError(f"alias {name!r} is set by the environment (AICHAT_MODEL_ALIASES): change it there")
    with versions.change(session, CONFIG):
        row = session.get(ModelAlias, name)
        if row is None:
            raise SpecError(f"no alias called {name!r}")
        target = row.target
        session.delete(row)
    return target
