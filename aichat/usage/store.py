"""Writing usage rows to the database."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert

from aichat.extensions import db
from aichat.models import AIUsageLog


def batch_writer(app) -> Callable[[list[dict]], None]:
    """A function that inserts a batch of usage rows in one transaction, usable off-request."""

    def write(batch: list[dict]) -> None:
        with app.app_context():
            with db.engine.begin() as conn:
                conn.execute(insert(AIUsageLog), batch)

    return write
