"""Writing usage rows to the database: a record becomes a bounded row, a batch one transaction.

Every value that comes from a client or an upstream is bounded where the row is built
(`row_of`), by its AIUsageLog column: strings to the column's length, integers to its range,
floats finite. A batch the database still refuses for a reason that retrying cannot fix
(`refused`: a value it rejects) is written again in one transaction, halved into savepoints
until each good row is in and each bad one is alone; that one is stored salvaged (its text
made ASCII and cut, then its optional text dropped, with a note in error_message) or, if the
database refuses even that, set aside: logged, counted and kept in the spool's rejected file.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, Numeric, SmallInteger, String, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.types import TypeDecorator

from aichat.extensions import db
from aichat.models import AIUsageLog, UsageSpoolApplied

from . import spool
from .costing import price_rows
from .days import local_day, usage_zone
from .rollup import mark_dirty

log = logging.getLogger(__name__)

# Characters kept of a Text column (error messages): it has no length of its own to go by.
TEXT_LIMIT = 2000
# Filled when the row is written (costing.price_rows), unless the record arrives priced.
PRICED = ("cost", "currency")
_INT_BITS = ((BigInteger, 63), (SmallInteger, 15), (Integer, 31))  # most specific first
_COLUMNS = [c for c in AIUsageLog.__table__.columns if c.name != "id"]


# --- one record, one bounded row ------------------------------------------------------------

def row_of(record) -> dict:
    """The AIUsageLog row of one usage record (the gateway's AttemptRecord, or a row dict as tests and the
    spool have them): its columns only, each value bounded by its column."""
    if not isinstance(record, dict):
        record = record.as_row()
    if not record.get("upstream"):  # a record from before upstreams had names of their own: named after its kind
        record = {**record, "upstream": record.get("provider")}
    row = {name: bound(record.get(name)) for name, bound in _BOUNDS}
    if "cost" not in record:
        for name in PRICED:
            del row[name]
    return row


def _bound_of(column) -> Callable[[Any], Any]:
    """A function that turns any value into one the column takes."""
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, DateTime):
        return lambda value: value if isinstance(value, datetime) else datetime.now(UTC)
    empty = _empty(column, kind)
    if isinstance(kind, String):  # Text too, with no length
        return _text_bound(kind.length or TEXT_LIMIT, empty)
    if isinstance(kind, Boolean):
        return lambda value: empty if value is None else bool(value)
    if isinstance(kind, Integer):
        bits = next(b for t, b in _INT_BITS if isinstance(kind, t))
        return _int_bound(-(2 ** bits), 2 ** bits - 1, empty)
    if isinstance(kind, Float):
        return _float_bound(empty)
    if isinstance(kind, Numeric):
        return _decimal_bound(Decimal(10) ** ((kind.precision or 38) - (kind.scale or 0)), empty)
    return lambda value: value


def _empty(column, kind):
    """What stands in for a missing or unusable value: NULL where allowed, else the default or zero."""
    if column.nullable:
        return None
    if column.default is not None and column.default.is_scalar:
        return column.default.arg
    if isinstance(kind, String):
        return ""
    return False if isinstance(kind, Boolean) else 0


def _text_bound(limit: int, empty):
    def bound(value):
        if value is None:
            return empty
        text = value if isinstance(value, str) else str(value)
        if len(text) > limit:
            text = text[:limit]
        if not text.isascii():  # a lone surrogate cannot be encoded: replaced, not refused
            text = text.encode("utf-8", "replace").decode("utf-8")
        if "\x00" in text:  # PostgreSQL refuses NUL in text
            text = text.replace("\x00", "")
        return text
    return bound


def _int_bound(low: int, high: int, empty):
    def bound(value):
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            return empty
        return min(max(number, low), high)
    return bound


def _float_bound(empty):
    def bound(value):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return empty
        return number if math.isfinite(number) else empty
    return bound


def _decimal_bound(limit: Decimal, empty):
    def bound(value):
        if value is None:
            return empty
        try:
            amount = value if isinstance(value, Decimal) else Decimal(str(value))
        except (InvalidOperation, ValueError):
            return empty
        return amount if amount.is_finite() and abs(amount) < limit else empty
    return bound


_BOUNDS = [(c.name, _bound_of(c)) for c in _COLUMNS]
_NULLABLE_TEXT = [c.name for c in _COLUMNS if c.nullable and isinstance(c.type, String) and c.name not in PRICED]
_REQUIRED_TEXT = {c.name: _empty(c, c.type) for c in _COLUMNS if not c.nullable and isinstance(c.type, String)}
_KEPT = ("request_id", "provider", "endpoint", "status")  # what a salvaged row must still say


def salvaged(row: dict, level: int, why: str) -> dict:
    """A refused row cut down: level 1 makes its text ASCII (optional text short), level 2 drops optional text."""
    out = dict(row)
    for name in _NULLABLE_TEXT:
        if out[name] is not None:
            out[name] = None if level >= 2 else _ascii(out[name])[:32]
    for name, empty in _REQUIRED_TEXT.items():
        out[name] = empty if level >= 2 and name not in _KEPT else _ascii(out[name])
    note = f"[usage row salvaged after {why}]"
    message = row.get("error_message")
    out["error_message"] = note if level >= 2 or not message else f"{note} {_ascii(message)[:200]}"
    return out


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


# --- what a failure means --------------------------------------------------------------------

def refused(exc: BaseException) -> bool:
    """The database refuses these rows: the same rows will be refused again (a split can save the rest)."""
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError)):
        return True
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        return True  # a value could not be bound
    return isinstance(exc, (ValueError, TypeError, ArithmeticError, LookupError))


def unreachable(exc: BaseException) -> bool:
    """The database is away (connection lost, refused, timed out): retrying later can work."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                            sa_exc.TimeoutError, OSError))


def _reason(exc: BaseException) -> str:
    """The kind of refusal and the first line of the database's message (its DETAIL may quote the row)."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


# --- the store ---------------------------------------------------------------------------------

class UsageStore:
    """Writes batches of usage records, spools what cannot be written, and replays the spool."""

    def __init__(self, app, on_written: Callable[[list[dict]], None] | None = None,
                 tally: Callable[[str, int], None] | None = None):
        # `on_written` is told each batch once it is committed: the cost metric counts it then, and only once.
        self.app = app
        self.zone = usage_zone(app.config)  # an unknown zone fails here, at start-up, not on every batch
        self.spool_dir = app.config.get("AICHAT_USAGE_SPOOL_DIR") or os.path.join(app.instance_path, "usage-spool")
        self._on_written = on_written
        self._tally = tally or (lambda outcome, count: None)

    unreachable = staticmethod(unreachable)

    def write(self, batch: list, retry: bool = False) -> None:
        """Insert the records in one transaction; `retry`: an earlier attempt may have committed them."""
        self._commit([row_of(record) for record in batch], in_doubt=retry)

    def spool(self, batch: list, in_doubt: bool = False) -> None:
        """Keep records on disk for a later replay; `in_doubt`: they may have been committed already."""
        spool.write(self.spool_dir, [row_of(record) for record in batch], in_doubt)
        self._tally("spooled", len(batch))

    def has_spool(self) -> bool:
        return bool(spool.files(self.spool_dir))

    def replay(self) -> int:
        """Write every spool file waiting, each exactly once; the rows written. Raises if the database is away."""
        written = 0
        for path in spool.files(self.spool_dir):
            try:
                header, rows = spool.read(path)
                records = [row_of(row) for row in rows]
            except FileNotFoundError:
                continue  # another process replayed it meanwhile
            except (OSError, ValueError, LookupError, TypeError) as exc:
                spool.set_apart(path)  # it would fail the same way at every start
                log.error("usage spool file %s cannot be read (%s): renamed .bad", os.path.basename(path), exc)
                continue
            try:
                count = self._commit(records, in_doubt=header.get("in_doubt", True), spool_id=header["id"])
            except Exception as exc:
                if unreachable(exc):
                    raise
                # Not this file's rows (those are split and salvaged): the schema, say. Kept for the next attempt.
                log.warning("usage spool file %s not replayed (%s); kept for the next attempt", header["id"],
                            _reason(exc))
                continue
            if count is not None:
                written += count
                self._tally("replayed", count)
                log.info("usage spool file %s replayed: %d of %d rows written", header["id"], count, len(rows))
            spool.remove(path)
        return written

    # --- one transaction ------------------------------------------------------------------------

    def _commit(self, rows: list[dict], in_doubt: bool, spool_id: str | None = None) -> int | None:
        """Rows (and the spool id) in one transaction; the rows written, None if the spool was applied before."""
        with self.app.app_context():
            price_rows(rows)  # cost and currency from the price in force at each row's created_at
            try:
                kept = self._transaction(rows, in_doubt, spool_id, careful=False)
            except Exception as exc:
                if not refused(exc):
                    raise
                kept = self._transaction(rows, in_doubt, spool_id, careful=True, why=_reason(exc))
        if kept is not None and self._on_written is not None and kept:
            try:
                self._on_written(kept)
            except Exception:  # noqa: BLE001 - the rows are written: a retry would insert them twice
                log.exception("could not count a written usage batch")
        if kept:
            self._tally("written", len(kept))
        return None if kept is None else len(kept)

    def _transaction(self, rows, in_doubt, spool_id, careful, why=""):
        """The rows kept, or None if the spool file was applied before."""
        outcome = {"salvaged": 0, "set_aside": []}
        try:
            with db.engine.begin() as conn:
                _begin(conn)
                if spool_id is not None:
                    _claim(conn, spool_id, len(rows))
                if in_doubt:
                    rows = _unwritten(conn, rows)
                if careful:
                    kept = self._insert_halving(conn, rows, why, outcome)
                else:
                    if rows:
                        conn.execute(insert(AIUsageLog), rows)
                    kept = rows
                mark_dirty(conn, {local_day(row["created_at"], self.zone) for row in kept})  # same transaction
        except _AppliedBefore:
            return None
        if careful:
            self._report(len(rows), why, outcome)
        return kept

    def _insert_halving(self, conn, rows: list[dict], why: str, outcome: dict) -> list[dict]:
        """Insert rows in savepoints, halving a refused part until each refused row is alone; the rows kept."""
        if not rows:
            return []
        try:
            with conn.begin_nested():
                conn.execute(insert(AIUsageLog), rows)
            return rows
        except Exception as exc:
            if not refused(exc):
                raise
            if len(rows) > 1:
                middle = len(rows) // 2
                return (self._insert_halving(conn, rows[:middle], why, outcome)
                        + self._insert_halving(conn, rows[middle:], why, outcome))
            reason = _reason(exc)
        for level in (1, 2):
            candidate = salvaged(rows[0], level, reason)
            try:
                with conn.begin_nested():
                    conn.execute(insert(AIUsageLog), [candidate])
            except Exception as exc:
                if not refused(exc):
                    raise
                continue
            outcome["salvaged"] += 1
            return [candidate]
        outcome["set_aside"].append(rows[0])
        return []

    def _report(self, count: int, why: str, outcome: dict) -> None:
        """One line per refused batch (not per row), and the counts."""
        aside = outcome["set_aside"]
        if aside:
            try:
                spool.reject(self.spool_dir, aside, why)
            except OSError:
                log.exception("could not keep %d refused usage rows in the spool's rejected file", len(aside))
            self._tally("set_aside", len(aside))
        if outcome["salvaged"]:
            self._tally("salvaged", outcome["salvaged"])
        log.error("the database refused a usage batch of %d rows (%s): %d rows stored salvaged, %d set aside "
                  "in %s, the others written", count, why, outcome["salvaged"], len(aside),
                  os.path.join(self.spool_dir, spool.REJECTED))


class _AppliedBefore(Exception):
    """The spool file's id is taken: its rows are in the log already."""


def _begin(conn) -> None:
    """On SQLite, open the transaction now: a savepoint opened outside one would commit on release."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _claim(conn, spool_id: str, rows: int) -> None:
    """Record the spool file as applied, in the caller's transaction; _AppliedBefore if it was."""
    # Two processes replaying one file: the second waits on the first's uncommitted id, then finds it taken.
    try:
        conn.execute(insert(UsageSpoolApplied).values(id=spool_id, rows=rows, applied_at=datetime.now(UTC)))
    except sa_exc.IntegrityError:
        raise _AppliedBefore(spool_id) from None


def _unwritten(conn, rows: list[dict]) -> list[dict]:
    """The rows not in the log yet (same request id, attempt and creation time): for rows in doubt."""
    log_ = AIUsageLog.__table__.c
    ids = sorted({row["request_id"] for row in rows})
    present = set()
    for start in range(0, len(ids), 500):
        found = conn.execute(select(log_.request_id, log_.attempt, log_.created_at)
                             .where(log_.request_id.in_(ids[start:start + 500])))
        present.update((r.request_id, r.attempt, _instant(r.created_at)) for r in found)
    return [row for row in rows if (row["request_id"], row["attempt"], _instant(row["created_at"])) not in present]


def _instant(moment: datetime) -> datetime:
    """A naive UTC datetime: SQLite hands back naive ones, PostgreSQL aware ones."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def batch_writer(app, on_written: Callable[[list[dict]], None] | None = None) -> Callable[[list], None]:
    """A function that inserts a batch of usage records in one transaction, usable off-request."""
    return UsageStore(app, on_written).write
