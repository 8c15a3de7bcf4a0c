"""Where the database's schema stands against the migration scripts: shared by /health/ready and `flask verify`.

Read without alembic: a readiness poll would otherwise load it (about 11 MB) into every worker.
"""
from __future__ import annotations

import ast
import os

from sqlalchemy.engine import URL, Engine

# Where alembic keeps the revision a database is at (its default, which migrations/env.py keeps).
VERSION_TABLE = "alembic_version"


def missing_sqlite_file(url: URL) -> bool:
    """A SQLite URL whose file does not exist: connecting would create an empty one, so do not."""
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
        and not os.path.exists(url.database)


def script_heads(directory: str) -> set[str]:
    """The head revisions of the migration scripts in `directory`: those no other script revises."""
    revisions, revised = set(), set()
    versions = os.path.join(directory, "versions")
    for name in os.listdir(versions):
        if name.endswith(".py"):
            with open(os.path.join(versions, name), encoding="utf-8") as f:
                found = _revision_of(f.read())
            if found is not None:
                revisions.add(found[0])
                revised.update(found[1])
    return revisions - revised


def _revision_of(source: str) -> tuple[str, tuple[str, ...]] | None:
    """A script's `revision` and the revisions its `down_revision` names (none, one, or several for a merge)."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and node.value:
                    values[target.id] = ast.literal_eval(node.value)
    if not isinstance(values.get("revision"), str):
        return None
    down = values.get("down_revision")
    return values["revision"], (down,) if isinstance(down, str) else tuple(down or ())


def current_heads(engine: Engine) -> set[str]:
    """The revisions the database is at (empty: no schema); raises when it cannot be reached."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return set()
        return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
