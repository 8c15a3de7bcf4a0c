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


def batch_writer(app, on_written: Callable[[list[dict]], None] | None = None) -> Callable[[list[dict]], None]:
    """A function that inserts a batch of usage rows in one transaction, usable off-request."""
    # `on_written` is told each batch once it is committed: the cost metric counts it then, and only once.
    zone = usage_zone(app.config)  # an unknown zone fails here, at start-up, not on every batch

    def write(batch: list[dict]) -> None:
        with app.app_context():
            for row in batch:  # a record from before upstreams had names of their own: named after its kind
                row.setdefault("upstream", row["provider"])
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
