"""Writing usage rows to the database."""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import insert

from aichat.extensions import db
from aichat.models import AIUsageLog

from .costing import price_rows
from .days import local_day, usage_zone
from .rollup import mark_dirty

log = logging.getLogger(__name__)


_COLUMNS = frozenset(column.name for column in AIUsageLog.__table__.columns)


def row_of(record) -> dict:
    """A usage row's column values from the gateway's AttemptRecord (or a row dict, as the tests make)."""
    row = record if isinstance(record, dict) else record.as_row()
    return {name: value for name, value in row.items() if name in _COLUMNS}


def batch_writer(app, on_written: Callable[[list[dict]], None] | None = None) -> Callable[[list[dict]], None]:
    """A function that inserts a batch of usage rows in one transaction, usable off-request."""
    # `on_written` is told each batch once it is committed: the cost metric counts it then, and only once.
    zone = usage_zone(app.config)  # an unknown zone fails here, at start-up, not on every batch

    def write(records: list) -> None:
        batch = [row_of(record) for record in records]
        with app.app_context():
            price_rows(batch)  # cost and currency from the price in force at each row's created_at
            with db.engine.begin() as conn:
                conn.execute(insert(AIUsageLog), batch)
                mark_dirty(conn, {local_day(row["created_at"], zone) for row in batch})  # same transaction
            if on_written is not None:
                try:
                    on_written(batch)
                except Exception:  # noqa: BLE001 - the rows are written: a retry would insert them twice
                    log.exception("could not count a written usage batch")

    return write
