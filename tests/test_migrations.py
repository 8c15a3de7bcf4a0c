"""Migrations that move data, run on a database of their own."""
import os
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from aichat import create_app
from aichat.config import _database_url
from aichat.extensions import db
from aichat.models import AIUsageLog, AIUsageStats, UsageDirtyDay, UsageRollupState
from aichat.usage.days import UTC, usage_zone
from aichat.runtime import runtime_of
from aichat.usage.rollup import days_between, rollup_days, rollup_pending
from tests.conftest import _base_config, require_service
from tests.usage.factories import (GROUP, STAT_FIELDS, TTFT_FIELDS, assert_stats_equal, expected_stats, log_row,
                                   roll_up, stats_by_group, utc, write_logs)

HEAD = ScriptDirectory(str(Path(__file__).resolve().parent.parent / "migrations")).get_current_head()

NEW = ("id", "upstream", "latency_min_ms", "latency_max_ms", "site_id", *TTFT_FIELDS)  # not in ai_usage_stats at 0003


def _old_stats_row(day: date) -> dict:
    """A stats row as revision 0003 stored it: two timed attempts, no min or max."""
    row = {c.name: 0 for c in AIUsageStats.__table__.c if c.name not in NEW}
    row.update(day=day, site_domain="shop.example.com", provider="openai", model="gpt-4o-mini", caller="",
               currency="", latency_count=2, latency_sum_ms=300.0, lat_le_200=2)
    return row


def test_0004_marks_the_days_it_can_recompute_and_the_rollup_fills_their_min_and_max(tmp_path):
    """Rows rolled up before min/max existed: days whose logs are kept are recomputed, pruned days stay NULL."""
    app = create_app({**_base_config(f"sqlite:///{tmp_path / 'old.db'}"), "AICHAT_ROLLUP_INTERVAL": 0})
    kept, pruned, quiet = date(2026, 1, 5), date(2026, 1, 1), date(2026, 1, 6)
    try:
        with app.app_context():
            upgrade(revision="0003")
            old_stats = sa.table("ai_usage_stats", *(sa.column(c.name, c.type) for c in AIUsageStats.__table__.c
                                                      if c.name not in NEW))
            with db.engine.begin() as conn:
                conn.execute(sa.insert(old_stats), [_old_stats_row(pruned), _old_stats_row(kept),
                                                    {**_old_stats_row(quiet), "latency_count": 0, "lat_le_200": 0}])
                conn.execute(sa.insert(_without_upstream(AIUsageLog.__table__)), [
                    _unnamed(log_row(utc(2026, 1, 5, 9), latency_ms=100.0)),
                    _unnamed(log_row(utc(2026, 1, 5, 10), latency_ms=200.0))])
                conn.execute(sa.insert(UsageRollupState), [
                    {"name": "timezone", "value": "UTC"},
                    {"name": "pruned_before", "value": "2026-01-03T00:00:00+00:00"}])  # the logs before are gone
            upgrade()
            assert db.session.execute(sa.select(UsageDirtyDay.day)).scalars().all() == [kept]

            rollup_pending(db.engine, usage_zone(app.config))
            bounds = {s.day: (s.latency_min_ms, s.latency_max_ms)
                      for s in db.session.execute(sa.select(AIUsageStats)).scalars()}
            assert bounds == {pruned: (None, None), kept: (100.0, 200.0), quiet: (None, None)}
            db.engine.dispose()
    finally:
        runtime_of(app).recorder.close()


def test_hosts_upgrading_one_postgresql_database_at_once_all_succeed(tmp_path):
    """Three `flask db upgrade` at the same moment (three hosts starting): none fails, the schema is at head."""
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    with _postgresql_schema("aichat_upgrade") as (url, engine, schema):
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "k" * 40}
        # Each process builds its app first, then all start upgrading at the same instant.
        start_at = time.time() + 4
        script = ("import time; from flask_migrate import upgrade; from wsgi import app; "
                  f"time.sleep(max(0, {start_at} - time.time())); app.app_context().push(); upgrade()")
        runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT) for _ in range(3)]
        outputs = [run.communicate(timeout=120)[0].decode(errors="replace") for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
        with engine.connect() as conn:
            heads = conn.execute(sa.text(f'SELECT version_num FROM "{schema}".alembic_version')).scalars().all()
        assert heads == [HEAD]


@contextmanager
def _postgresql_schema(prefix: str):
    """A new, empty PostgreSQL schema: (a URL that uses it, an engine on the server, its name); dropped after."""
    base = _database_url(os.environ.get("AICHAT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"))
    engine = sa.create_engine(base)
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        require_service(False, f"PostgreSQL is unreachable: {type(exc).__name__}")
    try:
        yield f"{base}?options={quote(f'-csearch_path={schema}')}", engine, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A database of the test's own with nothing in it: a SQLite file, or a new PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    with _postgresql_schema("aichat_migrate") as (url, _engine, _schema):
        yield url


@pytest.fixture
def app_on(empty_database):
    """An app on the empty database (migrate it with `upgrade(revision=…)` inside its context)."""
    app = create_app({**_base_config(empty_database), "AICHAT_ROLLUP_INTERVAL": 0})
    yield app
    runtime_of(app).recorder.close()
    with app.app_context():
        db.engine.dispose()


def _without_upstream(table) -> sa.TableClause:
    """The table as revision 0004 has it: the model's columns but `upstream` and `site_id` (and the database's
    own id)."""
    return sa.table(table.name, *(sa.column(c.name, c.type) for c in table.c
                                  if c.name not in ("id", "upstream", "site_id", *TTFT_FIELDS)))


def _unnamed(row: dict) -> dict:
    """A log row as the gateway wrote it before upstreams had names of their own."""
    return {k: v for k, v in row.items() if k != "upstream"}


def _old_rows() -> list[dict]:
    """Log rows of three days, as the gateway wrote them when every upstream was named after its kind."""
    return [log_row(utc(2026, 1, 5, 9), latency_ms=100.0),
            log_row(utc(2026, 1, 5, 10), provider="gemini", model_served="gemini-2.5-flash", latency_ms=250.0,
                    cost=Decimal("0.0000000001")),
            log_row(utc(2026, 1, 5, 11), status="error", cost=None, currency=None, prompt_tokens=0,
                    completion_tokens=0, total_tokens=0, latency_ms=30.0),
            log_row(utc(2026, 1, 6, 23, 59, 59), caller="key:3f1a2b9c0d", latency_ms=70000.0),
            log_row(utc(2026, 1, 7), provider="demo", model_served="demo", cost=None, currency=None)]


def _old_stats(rows: list[dict]) -> list[dict]:
    """What the rollup of revision 0004 stored for `rows`: the groups without the upstream."""
    out = []
    for key, fields in expected_stats(rows, UTC, ttft=False).items():
        group = dict(zip(GROUP, key))
        assert group.pop("upstream") == group["provider"]
        out.append({**group, **fields})
    return out


def test_0006_names_the_rows_written_before_it_after_their_kind_and_keeps_their_rollup(app_on):
    """Logs and stats written at 0004: after the upgrade each has upstream = provider, the column is required,
    the stats equal a fresh rollup of the logs, and a second upstream of one kind rolls up on a row of its own."""
    rows = _old_rows()
    with app_on.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as conn:
            conn.execute(sa.insert(_without_upstream(AIUsageLog.__table__)), [_unnamed(r) for r in rows])
            conn.execute(sa.insert(_without_upstream(AIUsageStats.__table__)), _old_stats(rows))
            conn.execute(sa.insert(UsageRollupState), [{"name": "timezone", "value": "UTC"}])  # rolled up before
        upgrade()
        with db.engine.connect() as conn:
            named = conn.execute(sa.select(AIUsageLog.upstream, AIUsageLog.provider)).all()
            assert sorted(named) == sorted((r["provider"], r["provider"]) for r in rows)
            nullable = {t: c["nullable"] for t in ("ai_usage_log", "ai_usage_stats")
                        for c in sa.inspect(conn).get_columns(t) if c["name"] == "upstream"}
            assert nullable == {"ai_usage_log": False, "ai_usage_stats": False}
            indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes("ai_usage_log")}
            assert indexes["ix_ai_usage_log_upstream_created_id"] == ["upstream", "created_at", "id"]
    expected = expected_stats(rows, UTC)
    assert_stats_equal(stats_by_group(app_on), expected_stats(rows, UTC, ttft=False))  # the backfill alone

    with app_on.app_context():
        recomputed = rollup_days(db.engine, UTC, days_between(date(2026, 1, 5), date(2026, 1, 7)))
    assert recomputed.days == 3
    assert_stats_equal(stats_by_group(app_on), expected)

    twin = log_row(utc(2026, 1, 5, 12), upstream="deepseek", latency_ms=400.0)  # the first row's group but upstream
    write_logs(app_on, [twin])
    roll_up(app_on)
    stats = stats_by_group(app_on)
    assert_stats_equal(stats, expected_stats([*rows, twin], UTC))
    deepseek = (date(2026, 1, 5), "shop.example.com", "deepseek", "openai", "gpt-4o-mini", "", "USD")
    assert stats[deepseek]["attempts"] == 1

    with app_on.app_context(), pytest.raises(sa.exc.IntegrityError):
        with db.engine.begin() as conn:  # a row that names no upstream is refused by the database itself
            conn.execute(sa.insert(_without_upstream(AIUsageLog.__table__)),
                         [_unnamed(log_row(utc(2026, 1, 8)))])


def test_0006_downgrades_by_merging_upstreams_of_one_kind(app_on):
    """Back at 0004 the upstream is gone from the group: two upstreams' rows of one kind become one, exactly."""
    rows = [*_old_rows(), log_row(utc(2026, 1, 5, 9, 30), upstream="deepseek", latency_ms=50.0, cost=Decimal("2")),
            log_row(utc(2026, 1, 5, 9, 45), upstream="qwen", status="error", latency_ms=None, failed_over=True)]
    with app_on.app_context():
        upgrade()
    write_logs(app_on, rows)
    roll_up(app_on)
    assert len(stats_by_group(app_on)) == len(expected_stats(rows, UTC)) == 7
    with app_on.app_context():
        downgrade(revision="0004")
        old = _without_upstream(AIUsageStats.__table__)
        with db.engine.connect() as conn:
            found = {tuple(r[k] for k in GROUP if k != "upstream"): {f: r[f] for f in STAT_FIELDS}
                     for r in conn.execute(sa.select(old)).mappings()}
    as_kind = [{**r, "upstream": r["provider"]} for r in rows]
    want = {tuple(v for k, v in zip(GROUP, key) if k != "upstream"): fields
            for key, fields in expected_stats(as_kind, UTC, ttft=False).items()}
    assert len(want) == 5
    assert_stats_equal(found, want)


def test_0008_makes_every_existing_admin_an_owner_and_downgrades(app_on):
    """Admins from before roles could do everything: they become owners, unlocked; the audit table comes and goes."""
    with app_on.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO admin_user (username, password_hash, is_active, created_at) "
                                 "VALUES ('alice', 'x', :t, CURRENT_TIMESTAMP), ('bob', 'x', :f, CURRENT_TIMESTAMP)"),
                         {"t": True, "f": False})
        upgrade()
        with db.engine.begin() as conn:
            rows = conn.execute(sa.text("SELECT username, role, failed_logins, locked_until FROM admin_user "
                                        "ORDER BY username")).all()
            assert [tuple(r) for r in rows] == [("alice", "owner", 0, None), ("bob", "owner", 0, None)]
            # A new account's role is chosen by the code, never by a default that grants the most.
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.text("INSERT INTO admin_user (username, password_hash, is_active, created_at) "
                                     "VALUES ('carol', 'x', :t, CURRENT_TIMESTAMP)"), {"t": True})
            assert "audit_event" in sa.inspect(conn).get_table_names()
        downgrade(revision="0007")
        with db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "audit_event" not in inspector.get_table_names()
            assert "role" not in {c["name"] for c in inspector.get_columns("admin_user")}
            assert conn.execute(sa.text("SELECT count(*) FROM admin_user")).scalar_one() == 2
        upgrade()


def test_0010_downgrades_by_merging_sites_of_one_domain(app_on):
    """A removed site's history and the new site of its domain roll up apart at 0010; back at 0009, where the
    domain is the group, they become one row, exactly; the other sites' rows stay as they were."""
    rows = [*_old_rows(), log_row(utc(2026, 1, 5, 9, 30), site_id=101, latency_ms=50.0, cost=Decimal("2")),
            log_row(utc(2026, 1, 5, 9, 45), site_id=102, status="error", latency_ms=None, failed_over=True),
            log_row(utc(2026, 1, 5, 9, 50), site_id=103, site_domain="blog.example.org")]
    with app_on.app_context():
        upgrade()
    write_logs(app_on, rows)
    roll_up(app_on)
    with app_on.app_context():
        with db.engine.connect() as conn:
            sited = conn.execute(sa.select(AIUsageStats.site_id, AIUsageStats.site_domain)
                                 .where(AIUsageStats.site_id.is_not(None))).all()
        assert sorted(sited) == [(101, "shop.example.com"), (102, "shop.example.com"), (103, "blog.example.org")]
        downgrade(revision="0009")
        old = sa.table("ai_usage_stats", *(sa.column(c.name, c.type) for c in AIUsageStats.__table__.c
                                           if c.name not in ("id", "site_id", *TTFT_FIELDS)))
        with db.engine.connect() as conn:
            found = {tuple(r[k] for k in GROUP): {f: r[f] for f in STAT_FIELDS}
                     for r in conn.execute(sa.select(old)).mappings()}
            assert "site_id" not in {c["name"] for c in sa.inspect(conn).get_columns("ai_usage_log")}
    assert_stats_equal(found, expected_stats(rows, UTC, ttft=False))


def test_0011_adds_conversations_and_site_settings_and_downgrades(app_on):
    """Sites made before 0011 get its defaults; back at 0010 the conversations and the new columns are gone and
    site ids still are never reused."""
    with app_on.app_context():
        upgrade(revision="0010")
        upgrade()
        with db.engine.begin() as conn:
            row = conn.execute(sa.text("SELECT id, merge_anonymous, on_disconnect, retention_days, identity_secret "
                                       "FROM site WHERE domain = 'localhost'")).one()
            assert tuple(row[1:]) == (True, "stop", 90, None)
            conn.execute(sa.text("INSERT INTO conversation (public_id, site_id, owner, title, message_count, "
                                 "created_at, updated_at) VALUES ('c_" + "a" * 22 + "', :site, 'user:u', '', 0, "
                                 "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"site": row[0]})
        downgrade(revision="0010")
        with db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert "conversation" not in inspector.get_table_names()
            assert "retention_days" not in {c["name"] for c in inspector.get_columns("site")}
            if conn.dialect.name == "sqlite":
                sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'site'")).scalar_one()
                assert "AUTOINCREMENT" in sql.upper()
        upgrade()


def test_0012_adds_the_usage_rows_conversation_and_downgrades(app_on):
    """Rows written before 0012 name no conversation; back at 0011 the column is gone and the rows stay."""
    with app_on.app_context():
        upgrade(revision="0011")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO ai_usage_log (request_id, attempt, site_domain, endpoint, upstream, "
                                 "provider, stream, status, failed_over, prompt_tokens, cached_tokens, "
                                 "completion_tokens, reasoning_tokens, total_tokens, usage_source, created_at) "
                                 "VALUES ('r-old', 1, 'x', 'ai-proxy', 'demo', 'demo', false, 'success', false, "
                                 "1, 0, 1, 0, 2, 'provider', CURRENT_TIMESTAMP)"))
        upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(sa.text("SELECT conversation_id FROM ai_usage_log")).scalar_one() is None
            conn.execute(sa.text("UPDATE ai_usage_log SET conversation_id = :c"), {"c": "c_" + "b" * 22})
        downgrade(revision="0011")
        with db.engine.connect() as conn:
            assert "conversation_id" not in {c["name"] for c in sa.inspect(conn).get_columns("ai_usage_log")}
            assert conn.execute(sa.text("SELECT request_id FROM ai_usage_log")).scalar_one() == "r-old"
        upgrade()


def test_0014_leaves_time_to_first_token_unknown_until_a_day_is_recomputed_and_downgrades(app_on):
    """Stats from before 0014 have no time to first token (NULL, not 0); a day with streams whose logs are kept
    is marked and recomputed from them; a pruned day stays unknown; back at 0013 the columns are gone."""
    kept, pruned = date(2026, 1, 5), date(2026, 1, 1)
    rows = [log_row(utc(2026, 1, 5, 9), stream=True, ttft_ms=180.0, latency_ms=900.0),
            log_row(utc(2026, 1, 5, 10), stream=True, ttft_ms=None, latency_ms=400.0)]
    old = [log_row(utc(2026, 1, 1, 9), stream=True, ttft_ms=90.0)]  # its log is pruned below
    with app_on.app_context():
        upgrade(revision="0013")
        stats_0013 = sa.table("ai_usage_stats", *(sa.column(c.name, c.type) for c in AIUsageStats.__table__.c
                                                  if c.name not in ("id", *TTFT_FIELDS)))
        with db.engine.begin() as conn:
            conn.execute(sa.insert(AIUsageLog.__table__), rows)
            conn.execute(sa.insert(stats_0013), [{**dict(zip(GROUP, key)), "site_id": None, **fields} for key, fields
                                                 in expected_stats([*rows, *old], UTC, ttft=False).items()])
            conn.execute(sa.insert(UsageRollupState), [
                {"name": "timezone", "value": "UTC"}, {"name": "pruned_before", "value": "2026-01-03T00:00:00+00:00"}])
        upgrade()
        assert db.session.execute(sa.select(UsageDirtyDay.day)).scalars().all() == [kept]
        counts = dict(db.session.execute(sa.select(AIUsageStats.day, AIUsageStats.ttft_count)).all())
        assert counts == {kept: None, pruned: None}
        rollup_pending(db.engine, usage_zone(app_on.config))
        db.session.expire_all()
        got = {s.day: (s.ttft_count, s.ttft_sum_ms, s.ttft_le_200)
               for s in db.session.execute(sa.select(AIUsageStats)).scalars()}
        assert got == {kept: (1, 180.0, 1), pruned: (None, None, 0)}
        db.session.rollback()  # PostgreSQL: the session's open transaction would hold off the ALTER TABLE
        downgrade(revision="0013")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("ai_usage_stats")}
            assert not columns & set(TTFT_FIELDS) and "lat_le_inf" in columns
        upgrade()
