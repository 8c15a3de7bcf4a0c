"""Migrations that move data, run on a database of their own."""
from datetime import date

import sqlalchemy as sa
from flask_migrate import upgrade

from aichat import create_app
from aichat.extensions import db
from aichat.models import AIUsageLog, AIUsageStats, UsageDirtyDay, UsageRollupState
from aichat.usage.days import usage_zone
from aichat.usage.rollup import rollup_pending
from tests.conftest import _base_config
from tests.usage.factories import log_row, utc

NEW = ("id", "latency_min_ms", "latency_max_ms")


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
                conn.execute(sa.insert(AIUsageLog), [
                    log_row(utc(2026, 1, 5, 9), latency_ms=100.0),
                    log_row(utc(2026, 1, 5, 10), latency_ms=200.0)])
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
        app.extensions["aichat.usage"].close()


def test_hosts_upgrading_one_postgresql_database_at_once_all_succeed(tmp_path):
    """Three `flask db upgrade` at the same moment (three hosts starting): none fails, the schema is at head."""
    import os
    import subprocess
    import sys
    import time
    import uuid
    from urllib.parse import quote

    from aichat.config import _database_url
    from tests.conftest import ROOT, require_service

    base = _database_url(os.environ.get("AICHAT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"))
    engine = sa.create_engine(base)
    schema = f"aichat_upgrade_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        require_service(False, f"PostgreSQL is unreachable: {type(exc).__name__}")
    try:
        url = f"{base}?options={quote(f'-csearch_path={schema}')}"
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
        assert heads == [_script_head()]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _script_head() -> str:
    """The newest revision in migrations/versions."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tests.conftest import ROOT

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()
