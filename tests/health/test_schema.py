"""The schema position read without alembic agrees with alembic's own answer."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from aichat.health.schema import current_heads, script_heads
from tests.health.test_ready import own_database  # noqa: F401 - fixture

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "migrations")


def alembic_heads(directory: str) -> set[str]:
    config = Config()
    config.set_main_option("script_location", directory)
    return set(ScriptDirectory.from_config(config).get_heads())


def script(revision: str, down) -> str:
    return f'"""{revision}"""\nrevision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\n' \
           f"depends_on = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n"


def test_heads_of_the_shipped_scripts():
    """Does the script reading find the same head as alembic for this version's migrations?"""
    assert script_heads(MIGRATIONS) == alembic_heads(MIGRATIONS)


@pytest.mark.parametrize("layout, heads", [
    ({"a": None, "b": "a", "c": "a"}, {"b", "c"}),  # two branches: two heads
    ({"a": None, "b": "a", "c": "a", "m": ("b", "c")}, {"m"}),  # merged again
])
def test_heads_of_branches_and_merges(tmp_path, layout, heads):
    """Are branches and merge revisions read the way alembic reads them?"""
    (tmp_path / "versions").mkdir()
    (tmp_path / "script.py.mako").write_text("")
    (tmp_path / "env.py").write_text("")
    for revision, down in layout.items():
        (tmp_path / "versions" / f"{revision}.py").write_text(script(revision, down))
    assert script_heads(str(tmp_path)) == heads == alembic_heads(str(tmp_path))


@pytest.mark.parametrize("revision", ["0001", "head"])
def test_current_heads_match_alembic(own_database, revision):  # noqa: F811
    """Is the database's revision read as alembic reads it, on SQLite and PostgreSQL?"""
    engine = create_engine(own_database(revision))
    try:
        with engine.connect() as conn:
            expected = set(MigrationContext.configure(conn).get_current_heads())
        assert current_heads(engine) == expected
        assert expected == ({"0001"} if revision == "0001" else alembic_heads(MIGRATIONS))
    finally:
        engine.dispose()


def test_no_schema_is_no_heads(tmp_path):
    """Is an empty database at no revision (not an error)?"""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert current_heads(engine) == set()
    engine.dispose()


def test_a_serving_process_never_loads_alembic(own_database):  # noqa: F811
    """Does a worker answer readiness (database at head) without importing alembic (about 11 MB)?"""
    url = own_database("head")
    script = ("import json, sys; from wsgi import app; r = app.test_client().get('/health/ready'); "
              "print(json.dumps([r.get_json()['checks']['database']['status'], "
              "sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'flask_migrate'))]))")
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "x" * 40, "AICHAT_ROLLUP_INTERVAL": "0"}
    out = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(MIGRATIONS), env=env,
                         capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["ok", []], out.stderr[-2000:]
