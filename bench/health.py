"""App time of `/health`, of a cached `/health/ready`, and of one readiness evaluation.

Usage: .venv/bin/python bench/health.py [--rounds 7] [--calls 5000] [--postgresql]

Calls the WSGI app directly in a loop (no server, no sockets), so the numbers are aichat's own
cost per poll: wall and CPU time per call, the median over the rounds. The uncached row is the
work done once per AICHAT_READY_CACHE_SECONDS per process (a fresh database connection and the
alembic version read); with --postgresql it is measured on 127.0.0.1:5432 as well.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from urllib.parse import quote

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from werkzeug.test import EnvironBuilder  # noqa: E402

from aichat import create_app  # noqa: E402
from aichat.extensions import db  # noqa: E402

PG_BASE = "postgresql+psycopg://127.0.0.1:5432/test"


def build(url: str, **overrides):
    from flask_migrate import upgrade

    app = create_app({"SECRET_KEY": "bench-secret-key-bench-secret-key-0001", "SQLALCHEMY_DATABASE_URI": url,
                      "RATELIMIT_STORAGE_URI": "memory://", "AICHAT_ROLLUP_INTERVAL": 0, **overrides})
    with app.app_context():
        upgrade()
    return app


def per_call(app, path: str, calls: int, rounds: int) -> tuple[float, float, int]:
    """(median wall µs, median CPU µs, status) per call over `rounds` rounds of `calls` calls."""
    environ = EnvironBuilder(path=path).get_environ()
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            for _chunk in app(dict(environ), start_response):
                pass
        walls.append((time.perf_counter() - wall) / calls * 1e6)
        cpus.append((time.process_time() - cpu) / calls * 1e6)
    return statistics.median(walls), statistics.median(cpus), int(status[-1].split()[0])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--postgresql", action="store_true", help="also time an evaluation on PostgreSQL")
    a = p.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{tmp}/health.db"
        app = build(sqlite, AICHAT_READY_CACHE_SECONDS=3600.0)
        rows.append(("/health", *per_call(app, "/health", a.calls, a.rounds)))
        rows.append(("/health/ready, cached", *per_call(app, "/health/ready", a.calls, a.rounds)))
        app = build(sqlite, AICHAT_READY_CACHE_SECONDS=0.0)
        rows.append(("/health/ready, evaluated (SQLite)", *per_call(app, "/health/ready", a.calls // 20, a.rounds)))
        if a.postgresql:
            rows.append(("/health/ready, evaluated (PostgreSQL)", *postgresql(a)))

    print(f"| request | wall µs/call | CPU µs/call | status |\n| --- | ---: | ---: | ---: |")
    for name, wall, cpu, status in rows:
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {status} |")
    print(f"\nmedian of {a.rounds} rounds; {a.calls} calls a round ({a.calls // 20} when evaluated); "
          f"Python {sys.version.split()[0]}")


def postgresql(a) -> tuple[float, float, int]:
    from sqlalchemy import create_engine, text

    schema = f"aichat_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_BASE)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        app = build(f"{PG_BASE}?options={quote(f'-csearch_path={schema}')}", AICHAT_READY_CACHE_SECONDS=0.0)
        result = per_call(app, "/health/ready", a.calls // 20, a.rounds)
        with app.app_context():
            db.engine.dispose()
        return result
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


if __name__ == "__main__":
    main()
