"""The usage writer never stalls on a bad row and never grows without bound: values are bounded where the row
is built, a refused row is split out of its batch, and a full queue spills to the spool or sheds, counted."""
from __future__ import annotations

import logging
import math
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import BigInteger, Integer, String, Text, text

from aichat.extensions import db
from aichat.models import AIUsageLog
from aichat.usage import recorder as recorder_mod
from aichat.usage import spool
from aichat.usage.store import TEXT_LIMIT, row_of
from tests.conftest import usage_rows
from tests.telemetry.scrape import scrape
from tests.usage.factories import log_row
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False, "model": "gpt-4o-mini"}
LONG_MODEL = "gpt-4o-mini-" + "très-long-" * 40  # 412 characters, past varchar(128), not ASCII


def _now():
    return datetime.now(timezone.utc)


def _rows_metric(app, outcome: str) -> float | None:
    """The count of rows that met `outcome`; None while no row has (the series is not exposed yet)."""
    samples = scrape(app.test_client())
    found = samples.has("aichat_usage_rows_total", outcome=outcome)
    return samples.value("aichat_usage_rows_total", outcome=outcome) if found else None


# --- bounded where the row is built ------------------------------------------------------------

def test_every_text_column_is_cut_to_its_own_length_and_text_to_the_text_limit():
    """Lengths come from the AIUsageLog columns, whatever they are: a new or wider column is bounded too."""
    record = log_row(_now())
    strings = [c for c in AIUsageLog.__table__.columns if isinstance(c.type, String) and c.name != "id"]
    for column in strings:
        record[column.name] = "x" * ((column.type.length or TEXT_LIMIT) + 50)
    row = row_of(record)
    for column in strings:
        limit = TEXT_LIMIT if isinstance(column.type, Text) else column.type.length
        assert len(row[column.name]) == limit, column.name


def test_numbers_are_kept_in_their_columns_range_and_odd_text_is_made_storable():
    record = log_row(_now(), prompt_tokens=10 ** 30, completion_tokens=-(10 ** 30), cached_tokens="12",
                     reasoning_tokens="many", latency_ms=float("nan"), ttft_ms=float("inf"),
                     error_message="bad\x00byte and a lone \ud800 surrogate", model_served=None,
                     upstream="name-of-an-upstream", prompt="never a column")
    row = row_of(record)
    int_max = {c.name: 2 ** (63 if isinstance(c.type, BigInteger) else 31) - 1
               for c in AIUsageLog.__table__.columns if isinstance(c.type, Integer)}
    assert row["prompt_tokens"] == int_max["prompt_tokens"] and row["completion_tokens"] == -int_max["prompt_tokens"] - 1
    assert row["cached_tokens"] == 12 and row["reasoning_tokens"] == 0  # not a number: the column's default
    assert row["latency_ms"] is None and row["ttft_ms"] is None
    assert "\x00" not in row["error_message"] and row["error_message"].encode("utf-8")
    assert row["model_served"] is None
    assert set(row) == {c.name for c in AIUsageLog.__table__.columns} - {"id"}, "keys that are not columns are left"


def test_missing_required_values_get_their_defaults_and_an_unpriced_record_stays_unpriced():
    row = row_of({"request_id": None, "created_at": None})
    assert row["request_id"] == "" and row["site_domain"] == "unknown" and row["usage_source"] == "provider"
    assert row["attempt"] == 1 and row["stream"] is False and isinstance(row["created_at"], datetime)
    assert "cost" not in row and "currency" not in row, "priced when written, from the price in force"


def test_a_model_name_longer_than_its_column_is_cut_and_every_row_is_still_written(gateway_app, fake_openai):
    """An upstream answers with a 412-character model name between two ordinary answers: is every row written
    (the long name cut to the column's 128 characters, also on PostgreSQL), and the writer still writes later?"""
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"])
    client = app.test_client()
    fake_openai.plan()
    fake_openai.plan(model=LONG_MODEL)
    fake_openai.plan(model=LONG_MODEL)
    fake_openai.plan()
    for i in range(4):
        stream = i == 2
        resp = client.post(URL, json={**BODY, "stream": stream}, headers={"X-Request-ID": f"long-{i}"})
        assert resp.status_code == 200
        resp.get_data()
    rows = {r["request_id"]: r for r in usage_rows(app, at_least=4)}
    assert sorted(rows) == ["long-0", "long-1", "long-2", "long-3"]
    assert rows["long-1"]["model_served"] == LONG_MODEL[:128] == rows["long-2"]["model_served"]
    assert rows["long-0"]["model_served"] == "gpt-4o-mini" and rows["long-3"]["status"] == "success"
    # The writer keeps writing afterwards.
    client.post(URL, json=BODY, headers={"X-Request-ID": "later"})
    assert [r["request_id"] for r in usage_rows(app, at_least=5)][-1] == "later"
    assert _rows_metric(app, "written") == 5 and _rows_metric(app, "salvaged") is None


# --- a refused row in a batch -------------------------------------------------------------------

@pytest.fixture
def poison(make_app):
    """An app whose database refuses two kinds of row: site 'poison.example' and request id 'poison-aside'."""
    app = make_app(AICHAT_USAGE_FLUSH_INTERVAL=2.0, AICHAT_ROLLUP_INTERVAL=0)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            create = ("ALTER TABLE ai_usage_log ADD CONSTRAINT ck_usage_poison "
                      "CHECK (site_domain <> 'poison.example' AND request_id <> 'poison-aside')")
            drop = "ALTER TABLE ai_usage_log DROP CONSTRAINT ck_usage_poison"
        else:
            create = ("CREATE TRIGGER usage_poison BEFORE INSERT ON ai_usage_log WHEN NEW.site_domain = "
                      "'poison.example' OR NEW.request_id = 'poison-aside' BEGIN SELECT RAISE(ABORT, 'poison'); END")
            drop = "DROP TRIGGER usage_poison"
        db.session.execute(text(create))
        db.session.commit()
    yield app
    runtime_of(app).recorder.flush(10)
    with app.app_context():
        db.session.execute(text(drop))
        db.session.commit()


def _submit_batch(app, records) -> None:
    """Submit the records so the writer takes them as one batch (it collects for the flush interval)."""
    recorder = runtime_of(app).recorder
    for record in records:
        recorder.submit(record)
    assert recorder.flush(30), "the writer is stuck on the batch"


def test_a_refused_row_in_the_middle_of_a_batch_is_stored_salvaged_and_every_other_row_written(poison, caplog):
    """Nine rows, the fifth refused by the database: are the other eight written as they were, the fifth stored
    cut down with a note (its site replaced), one log line and the salvaged count, and later rows written?"""
    records = [log_row(_now(), request_id=f"batch-{i}") for i in range(9)]
    records[4].update(site_domain="poison.example", error_message="upstream said: 出错了")
    with caplog.at_level(logging.ERROR, logger="aichat.usage.store"):
        _submit_batch(poison, records)
    rows = {r["request_id"]: r for r in usage_rows(poison)}
    assert sorted(rows) == [f"batch-{i}" for i in range(9)]
    for i in (0, 1, 2, 3, 5, 6, 7, 8):
        assert rows[f"batch-{i}"]["site_domain"] == "shop.example.com" and rows[f"batch-{i}"]["error_message"] is None
    salvaged = rows["batch-4"]
    assert salvaged["site_domain"] == "unknown" and salvaged["error_message"].startswith("[usage row salvaged after")
    assert salvaged["prompt_tokens"] == 10 and salvaged["cost"] is not None, "the counts and cost are kept"
    refusals = [r for r in caplog.records if "refused a usage batch" in r.getMessage()]
    assert len(refusals) == 1 and "1 rows stored salvaged" in refusals[0].getMessage()
    assert "poison.example" not in caplog.text, "the database's DETAIL (the row's values) is not logged"
    assert _rows_metric(poison, "salvaged") == 1

    _submit_batch(poison, [log_row(_now(), request_id="after")])
    assert usage_rows(poison)[-1]["request_id"] == "after"


def test_a_row_refused_even_salvaged_is_set_aside_in_the_rejected_file_and_counted(poison):
    """The database refuses a row by its request id, which salvaging keeps: is it set aside (rejected file, log,
    metric) while every other row of its batch is written?"""
    records = [log_row(_now(), request_id=f"aside-{i}") for i in range(5)]
    records[2]["request_id"] = "poison-aside"
    _submit_batch(poison, records)
    assert sorted(r["request_id"] for r in usage_rows(poison)) == ["aside-0", "aside-1", "aside-3", "aside-4"]
    store = runtime_of(poison).recorder._store
    with open(f"{store.spool_dir}/{spool.REJECTED}", encoding="utf-8") as rejected:
        kept = rejected.read()
    assert '"request_id": "poison-aside"' in kept
    assert "IntegrityError" in kept or "CheckViolation" in kept, "with the reason (the driver's)"
    assert _rows_metric(poison, "set_aside") == 1 and _rows_metric(poison, "written") == 4


def test_a_batch_retried_after_an_answer_lost_in_transit_is_not_written_twice(make_app):
    """The commit succeeds but its answer is lost (the connection drops): is the retry told, and does it skip
    the rows already in the log instead of writing them again?"""
    from sqlalchemy.exc import OperationalError

    app = make_app(AICHAT_ROLLUP_INTERVAL=0)
    recorder = runtime_of(app).recorder
    original = recorder._write_batch
    calls = []

    def commits_then_fails(batch, **retry):
        calls.append(retry)
        original(batch, **retry)
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost after the commit"))

    recorder._write_batch = commits_then_fails
    _submit_batch(app, [log_row(_now(), request_id=f"doubt-{i}") for i in range(3)])
    assert calls == [{}, {"retry": True}]
    assert sorted(r["request_id"] for r in usage_rows(app)) == ["doubt-0", "doubt-1", "doubt-2"]


# --- the queue bound ------------------------------------------------------------------------------

def _block_writer(app):
    """Hold the writer inside its first write until the returned event is set."""
    recorder = runtime_of(app).recorder
    original = recorder._write_batch
    entered, release = threading.Event(), threading.Event()

    def blocked(batch, **retry):
        entered.set()
        assert release.wait(60)
        original(batch, **retry)

    recorder._write_batch = blocked
    recorder.submit(log_row(_now(), request_id="first"))
    assert entered.wait(30)
    return recorder, release


def test_a_full_queue_spills_to_the_spool_and_every_row_is_written_once_later(make_app, monkeypatch, tmp_path):
    """The writer stuck, 300 rows arrive with the queue bounded at 40: are they spooled rather than shed, and
    once the writer is back, is each written exactly once (the spool replayed by the writer itself)?"""
    monkeypatch.setattr(recorder_mod, "REPLAY_INTERVAL", 0.05)
    app = make_app(AICHAT_USAGE_QUEUE_MAX=40, AICHAT_ROLLUP_INTERVAL=0, AICHAT_USAGE_SPOOL_DIR=str(tmp_path))
    recorder, release = _block_writer(app)
    for i in range(300):
        recorder.submit(log_row(_now(), request_id=f"spill-{i}"))
    assert recorder._queue.qsize() <= 40
    release.set()
    rows = usage_rows(app, at_least=301, timeout=60)
    ids = [r["request_id"] for r in rows]
    assert len(ids) == 301 and set(ids) == {"first"} | {f"spill-{i}" for i in range(300)}
    assert _rows_metric(app, "shed") is None and _rows_metric(app, "spooled") > 0
    assert _rows_metric(app, "replayed") == _rows_metric(app, "spooled")
    assert spool.files(str(tmp_path)) == []


def test_a_full_queue_that_cannot_spill_sheds_rows_counted_and_logged_once(make_app, tmp_path, caplog):
    """The writer stuck and the spool unwritable: does the queue stay bounded, with every shed row counted in
    aichat_usage_rows_total{outcome="shed"} and one log line (not one per row), and the rest written later?"""
    blocker = tmp_path / "a-file"
    blocker.write_text("the spool directory cannot be made under a file")
    app = make_app(AICHAT_USAGE_QUEUE_MAX=20, AICHAT_ROLLUP_INTERVAL=0, AICHAT_USAGE_SPOOL_DIR=str(blocker / "spool"))
    recorder, release = _block_writer(app)
    with caplog.at_level(logging.ERROR, logger="aichat.usage.recorder"):
        for i in range(200):
            recorder.submit(log_row(_now(), request_id=f"shed-{i}"))
    accepted = recorder.pending - 1
    shed = _rows_metric(app, "shed")
    assert shed == 200 - accepted and shed >= 200 - 2 * 20, "the queue holds at most its bound (and a put-back)"
    lines = [r for r in caplog.records if "shed since the last report" in r.getMessage()]
    assert len(lines) == 1 and "AICHAT_USAGE_QUEUE_MAX=20" in lines[0].getMessage()
    release.set()
    assert len(usage_rows(app, at_least=1 + accepted)) == 1 + accepted


def test_the_shed_count_is_logged_at_close_when_no_interval_has_passed(make_app, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app = make_app(AICHAT_USAGE_QUEUE_MAX=2, AICHAT_ROLLUP_INTERVAL=0, AICHAT_USAGE_SPOOL_DIR=str(blocker / "spool"))
    recorder, release = _block_writer(app)
    with caplog.at_level(logging.ERROR, logger="aichat.usage.recorder"):
        for i in range(30):
            recorder.submit(log_row(_now(), request_id=f"shed-{i}"))
        release.set()
        recorder.close()
    reported = [int(r.getMessage().split(": ")[1].split()[0]) for r in caplog.records
                if "shed since the last report" in r.getMessage()]
    assert len(reported) == 2 and sum(reported) == _rows_metric(app, "shed") and not math.isclose(sum(reported), 0)
