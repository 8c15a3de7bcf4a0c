"""Rows that cannot be written by the stop deadline are spooled under instance/ and written exactly once at the
next start: by one of two processes starting at once, and not again after a crash before the file was removed."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from aichat import create_app
from aichat.extensions import db
from aichat.models import UsageSpoolApplied
from aichat.usage import spool
from aichat.usage.store import row_of
from tests.conftest import ROOT, _base_config, usage_rows
from tests.fakes import closed_port
from tests.telemetry.scrape import scrape
from tests.usage.factories import log_row
from aichat.runtime import runtime_of


def _now():
    return datetime.now(timezone.utc)


def _records(prefix: str, count: int) -> list[dict]:
    return [log_row(_now(), request_id=f"{prefix}-{i}") for i in range(count)]


def _stop_without_database(spool_dir, records) -> bool:
    """A process whose database is unreachable gets rows, then stops: close() as gunicorn's worker_exit calls it."""
    url = f"postgresql+psycopg://aichat@127.0.0.1:{closed_port()}/aichat"
    app = create_app({**_base_config(url), "AICHAT_ROLLUP_INTERVAL": 0, "AICHAT_DB_CONNECT_TIMEOUT": 1,
                      "AICHAT_USAGE_SPOOL_DIR": str(spool_dir)})
    recorder = runtime_of(app).recorder
    for record in records:
        recorder.submit(record)
    try:
        return recorder.close(timeout=1.0)
    finally:
        with app.app_context():
            db.engine.dispose()


def _start(make_app, spool_dir, **overrides):
    """The next start of a process: its writer replays the spool before anything else."""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0, AICHAT_USAGE_SPOOL_DIR=str(spool_dir), **overrides)
    recorder = runtime_of(app).recorder
    recorder.start()
    assert recorder.flush(30)
    return app


def _applied(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(UsageSpoolApplied)).scalar()


def test_rows_queued_when_the_database_is_down_at_stop_are_written_once_at_the_next_start(make_app, tmp_path):
    """The database unreachable while the process stops: are its rows spooled (not lost), written at the next
    start, and not written again by the start after that?"""
    records = _records("stop", 7)
    assert _stop_without_database(tmp_path, records) is True, "nothing lost: everything is in the spool"
    assert len(spool.files(str(tmp_path))) >= 1

    first = _start(make_app, tmp_path)
    rows = usage_rows(first)
    assert sorted(r["request_id"] for r in rows) == sorted(r["request_id"] for r in records)
    assert rows[0]["cost"] is not None and rows[0]["prompt_tokens"] == 10, "written whole, priced"
    assert spool.files(str(tmp_path)) == []
    assert scrape(first.test_client()).value("aichat_usage_rows_total", outcome="replayed") == 7

    second = _start(make_app, tmp_path)
    assert len(usage_rows(second)) == 7, "a second start writes nothing twice"


def test_a_spool_file_left_behind_after_its_rows_were_committed_is_not_written_again(make_app, tmp_path,
                                                                                      monkeypatch):
    """The process dies between committing a spool file's rows and removing the file: does the next start find
    the file's id applied, write nothing, and remove the file?"""
    _stop_without_database(tmp_path, _records("crash", 5))
    with monkeypatch.context() as patch:
        patch.setattr(spool, "remove", lambda path: None)  # dies before the file is removed
        first = _start(make_app, tmp_path)
    assert len(usage_rows(first)) == 5 and len(spool.files(str(tmp_path))) >= 1
    second = _start(make_app, tmp_path)
    assert len(usage_rows(second)) == 5, "the file's rows are in the log once"
    assert spool.files(str(tmp_path)) == [] and _applied(second) >= 1


def test_a_batch_in_doubt_at_stop_is_written_once(make_app, tmp_path):
    """A batch whose commit reached the database but whose answer was lost as the process stopped is spooled in
    doubt: does its replay skip the rows already in the log?"""
    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    store = runtime_of(app).recorder._store
    records = _records("doubt", 4)
    store.write(records[:3])  # committed; the process did not learn it
    spool.write(str(tmp_path), [row_of(r) for r in records], in_doubt=True)
    replayed = _start(make_app, tmp_path)
    assert sorted(r["request_id"] for r in usage_rows(replayed)) == [f"doubt-{i}" for i in range(4)]


def test_an_unreadable_spool_file_is_moved_aside_and_the_others_are_written(make_app, tmp_path):
    spool.write(str(tmp_path), [row_of(r) for r in _records("good", 2)], in_doubt=False)
    (tmp_path / "broken.jsonl").write_text('{"format": 1, "id": "broken", "rows": 5}\n{"not": "enough rows"}\n')
    app = _start(make_app, tmp_path)
    assert sorted(r["request_id"] for r in usage_rows(app)) == ["good-0", "good-1"]
    assert spool.files(str(tmp_path)) == [] and (tmp_path / "broken.jsonl.bad").exists()


@pytest.fixture
def postgres_url(database_url):
    """The run's PostgreSQL database, or, on a SQLite run, a migrated PostgreSQL schema of this test's own."""
    if database_url.startswith("postgresql"):
        yield database_url
        return
    import uuid
    from urllib.parse import quote

    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text

    from aichat.config import _database_url
    from tests.conftest import require_service

    base = _database_url(os.environ.get("AICHAT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"))
    engine = create_engine(base)
    schema = f"aichat_spool_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        require_service(False, f"PostgreSQL is unreachable: {type(exc).__name__}")
    url = f"{base}?options={quote(f'-csearch_path={schema}')}"
    app = create_app({**_base_config(url), "AICHAT_ROLLUP_INTERVAL": 0})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def test_the_database_cut_while_writing_then_stop_spools_and_the_next_start_writes_each_row_once(
        postgres_url, make_app, tmp_path):  # postgres_url first: its schema outlives make_app's clean-up
    """PostgreSQL through a proxy: rows written, the connection cut mid-run, more rows, stop: are the unwritten
    ones spooled and written at the next start, with every row in the log once?"""
    from tests.tcpproxy import FORWARD, REFUSE, TcpProxy

    proxy = TcpProxy(5432).start()
    try:
        proxied = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert proxied != postgres_url
        # Not make_app's: its clean-up would need the database this test takes away.
        app = create_app({**_base_config(proxied), "AICHAT_ROLLUP_INTERVAL": 0, "AICHAT_DB_CONNECT_TIMEOUT": 1,
                          "AICHAT_USAGE_SPOOL_DIR": str(tmp_path)})
        recorder = runtime_of(app).recorder
        for record in _records("before", 5):
            recorder.submit(record)
        assert recorder.flush(30)
        proxy.set_mode(REFUSE)  # the database goes away: open connections cut, new ones refused
        for record in _records("after", 6):
            recorder.submit(record)
        assert recorder.close(timeout=2.0) is True
        assert spool.files(str(tmp_path)), "the unwritten rows were spooled"
        proxy.set_mode(FORWARD)
        replayed = _start(make_app, tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
        ids = [r["request_id"] for r in usage_rows(replayed)]
        assert sorted(ids) == sorted([f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(6)])
        with app.app_context():
            db.engine.dispose()
    finally:
        proxy.stop()


# --- two processes start at once on one spool ---------------------------------------------------------

_REPLAYER = """
import sys, time
from aichat import create_app
from aichat.runtime import runtime_of
start_at = float(sys.argv[1])
app = create_app()
recorder = runtime_of(app).recorder
time.sleep(max(0.0, start_at - time.time()))
recorder.start()
print("flushed" if recorder.flush(60) else "timed out")
recorder.close()
"""


def test_two_processes_starting_at_once_write_a_spool_once(make_app, database_url, tmp_path):
    """Three spool files, two processes starting at the same instant on them (two workers after a restart): is
    every row in the log exactly once?"""
    files = [[row_of(r) for r in _records(f"file{n}", 200)] for n in range(3)]
    for rows in files:
        spool.write(str(tmp_path), rows, in_doubt=False)
    reader = make_app(AICHAT_ROLLUP_INTERVAL=0)
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "k" * 40, "AICHAT_ROLLUP_INTERVAL": "0",
           "AICHAT_USAGE_SPOOL_DIR": str(tmp_path), "AICHAT_ENV": "development"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    start_at = time.time() + 4  # both have built their apps by then
    runs = [subprocess.Popen([sys.executable, "-c", _REPLAYER, str(start_at)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0].decode(errors="replace") for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
    assert all("flushed" in output for output in outputs), "\n".join(outputs)
    ids = [r["request_id"] for r in usage_rows(reader)]
    assert len(ids) == 600 and len(set(ids)) == 600, "each spooled row written once"
    assert spool.files(str(tmp_path)) == [] and _applied(reader) == 3
