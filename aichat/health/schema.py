"""Where the database's schema stands against the migration scripts: shared by /health/ready and `flask verify`."""
from __future__ import annotations

import os

from sqlalchemy.engine import URL, Engine


def missing_sqlite_file(url: URL) -> bool:
    """A SQLite URL whose file does not exist: connecting would create an empty one, so do not."""
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
        and not os.path.exists(url.database)


def script_heads(directory: str) -> set[str]:
    """The head revisions of the migration scripts in `directory`."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return set(ScriptDirectory.from_config(config).get_heads())


def current_heads(engine: Engine) -> set[str]:
    """The revisions the database is at (empty: no schema); raises when it cannot be reached."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())
