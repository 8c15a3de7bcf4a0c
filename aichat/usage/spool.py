"""The usage spool: files of rows that could not be written when they were due.

A stopping worker whose database is away, or a writer that falls far behind, leaves its rows
here (instance/usage-spool by default) and a later writer replays them (UsageStore.replay).
A file is written aside and renamed into place, so a reader sees it whole or not at all. Its
first line is a header: the file's id (its name) and whether its rows are in doubt (a batch
that was being written when it was spooled may have been committed). The rows follow, one
JSON object a line. Rows the database refuses even salvaged go to `rejected.jsonl` beside
them, for an operator; it is never replayed.
"""
from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import DateTime

from aichat.models import AIUsageLog

SUFFIX = ".jsonl"
REJECTED = "rejected.jsonl"
FORMAT = 1
_DATETIMES = {c.name for c in AIUsageLog.__table__.columns if isinstance(c.type, DateTime)}
_DECIMALS = {"cost"}


def write(directory: str, rows: list[dict], in_doubt: bool) -> str:
    """A new spool file holding `rows`; its id."""
    os.makedirs(directory, exist_ok=True)
    spool_id = uuid.uuid4().hex
    temp = os.path.join(directory, f".{spool_id}.tmp")
    header = {"format": FORMAT, "id": spool_id, "rows": len(rows), "in_doubt": in_doubt,
              "written_at": datetime.now(UTC).isoformat(), "pid": os.getpid()}
    with open(temp, "w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for row in rows:
            out.write(json.dumps(row, default=_encode, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())  # the rows are on disk before the file has its name
    os.rename(temp, os.path.join(directory, spool_id + SUFFIX))
    return spool_id


def files(directory: str) -> list[str]:
    """The spool files waiting, oldest first."""
    try:
        names = [n for n in os.listdir(directory) if n.endswith(SUFFIX) and n != REJECTED]
    except FileNotFoundError:
        return []
    paths = [os.path.join(directory, n) for n in names]
    return sorted(paths, key=_mtime)


def read(path: str) -> tuple[dict, list[dict]]:
    """The header and rows of a spool file; ValueError if it is not one."""
    with open(path, encoding="utf-8") as source:
        header = json.loads(source.readline())
        if not isinstance(header, dict) or header.get("format") != FORMAT or "id" not in header:
            raise ValueError("not a usage spool file")
        rows = [_decode(json.loads(line)) for line in source if line.strip()]
    if len(rows) != header["rows"]:
        raise ValueError(f"{len(rows)} rows where the header says {header['rows']}")
    return header, rows


def remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass  # removed by another process that found it applied too


def set_apart(path: str) -> None:
    """Rename a file that cannot be replayed, so it is kept for an operator and not tried again."""
    try:
        os.rename(path, path + ".bad")
    except FileNotFoundError:
        pass


def reject(directory: str, rows: list[dict], why: str) -> None:
    """Append rows the database refused even salvaged to the rejected file, with the reason."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, REJECTED), "a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({"reason": why, "row": row}, default=_encode, ensure_ascii=False) + "\n")


def _encode(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a usage row value")


def _decode(row: dict) -> dict:
    for name in _DATETIMES & row.keys():
        if isinstance(row[name], str):
            row[name] = datetime.fromisoformat(row[name])
    for name in _DECIMALS & row.keys():
        if row[name] is not None:
            row[name] = Decimal(row[name])
    return row


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except FileNotFoundError:
        return 0.0
