"""Time the admin console's pages over a large usage log, on SQLite and on PostgreSQL.

Usage: nice .venv/bin/python bench/console.py [--database sqlite|postgresql|both] [--rows 10000000]
                                              [--runs 7] [--fresh]

For each database: seed N demo rows (`flask usage seed-demo`'s code: 90 days of realistic traffic, then
one rollup), or reuse the seeded database when it already holds exactly N rows: the SQLite file
instance/bench-console.db and the PostgreSQL schema bench_console are kept between runs (--fresh
starts them again). Then, in the process, with a signed-in console session, the server time of: every
console page a GET without arguments opens (the app's GET rules under /admin that take no URL
arguments, so new pages are measured too; downloads are left out), the log explorer's first page and
its 500th (the older link followed 499 times) over 30 days, with and without a filter, and the
dashboard's chart data for 365 days when the app has that route. Medians of --runs after a warm-up,
as a Markdown table against the targets.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

SQLITE_FILE = ROOT / "instance" / "bench-console.db"
PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "bench_console"
USERNAME, PASSWORD = "bench", "bench console password"
PAGE_MS, EXPLORER_MS, DASHBOARD_MS = 300.0, 50.0, 200.0
EXPLORER_RANGE = "range=30d"
EXPLORER_FILTER = "site=help.example.com"
# Pages over longer periods than their default, and a page with an argument: the heavier ends of what admins open.
LONGER_PAGES = ("/admin/?period=90", "/admin/costs?period=90", "/admin/upstreams?period=90", "/admin/errors?range=7d",
                "/admin/logs?range=30d", "/admin/sites/localhost?period=90")
_OLDER = re.compile(r'href="([^"]+)" rel="next" id="page-older"')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--rows", type=int, default=10_000_000, help="usage rows to seed (default 10,000,000)")
    p.add_argument("--days", type=int, default=90, help="days the rows are spread over (default 90)")
    p.add_argument("--runs", type=int, default=7, help="timed requests per page, after one warm-up (default 7)")
    p.add_argument("--fresh", action="store_true", help="seed again even if the database holds N rows")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_BASE), help="PostgreSQL server database")
    return p.parse_args(argv)


def database_url(kind: str, args, fresh: bool) -> str:
    """The database to use, emptied first when fresh."""
    if kind == "sqlite":
        SQLITE_FILE.parent.mkdir(exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(SQLITE_FILE) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_FILE}"
    engine = create_engine(args.pg_url)
    with engine.begin() as conn:
        if fresh:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{PG_SCHEMA}"'))
    engine.dispose()
    sep = "&" if "?" in args.pg_url else "?"
    return f"{args.pg_url}{sep}options=-csearch_path%3D{PG_SCHEMA}"


def make_app(url: str):
    from aichat import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-console-secret", "TESTING": True,
        "AICHAT_ROLLUP_INTERVAL": 0, "AICHAT_CONFIG_POLL_INTERVAL": 0, "AICHAT_LOGIN_RATE_LIMIT": "1000/second",
        # The demo rows' upstreams configured, with keys (never called): the upstreams page reads each key's state.
        "RATELIMIT_STORAGE_URI": "memory://", "OPENAI_API_KEY": ["sk-bench-key-one-0001", "sk-bench-key-two-0002"],
        "GEMINI_API_KEY": ["AIzaBenchKeyOne000001"],
        "AICHAT_USAGE_SPOOL_DIR": tempfile.mkdtemp(prefix="aichat-bench-console-spool-"),
    })


def seeded_rows(app) -> int:
    """Rows the rollup holds when it is current (no day waiting), else -1: a half-seeded database is redone."""
    from aichat.extensions import db
    from aichat.models.usage import AIUsageStats, UsageDirtyDay

    with app.app_context():
        if db.session.execute(select(func.count()).select_from(UsageDirtyDay)).scalar_one():
            return -1
        return db.session.execute(select(func.coalesce(func.sum(AIUsageStats.attempts), 0))).scalar_one()


def prepare(kind: str, args) -> object:
    """A migrated app over a database holding exactly args.rows demo rows, rolled up."""
    from flask_migrate import upgrade

    url = database_url(kind, args, args.fresh)
    app = make_app(url)
    with app.app_context():
        upgrade()
    have = seeded_rows(app)
    if have == args.rows:
        log(f"{kind}: reusing {have:,} seeded rows")
        return app
    if have:
        log(f"{kind}: the database holds {have:,} rows, not {args.rows:,}: seeding it again")
        app = make_app(database_url(kind, args, True))
        with app.app_context():
            upgrade()
    seed(kind, app, args)
    return app


def seed(kind: str, app, args) -> None:
    from aichat.extensions import db
    from aichat.usage import rollup, seed as demo
    from aichat.usage.costing import load_price_book
    from aichat.usage.days import usage_zone

    zone = usage_zone(app.config)
    with app.app_context():
        engine = db.engine
        rollup.ensure_zone(engine, zone)
        done, began = [0], time.perf_counter()

        def progress(n: int) -> None:
            done[0] += n
            if done[0] % 1_000_000 < n:
                rate = done[0] / (time.perf_counter() - began)
                log(f"{kind}: {done[0]:,} rows, {rate:,.0f} rows/s")

        demo.seed(engine, load_price_book(), zone, args.rows, args.days, progress=progress)
        seeded = time.perf_counter() - began
        rolled_began = time.perf_counter()
        rollup.rollup_days(engine, zone, rollup.dirty_days(engine))
        rolled = time.perf_counter() - rolled_began
        if kind == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE ai_usage_log"))  # what autovacuum does after a bulk load
    log(f"{kind}: seeded {args.rows:,} rows in {seeded:.0f} s ({args.rows / seeded:,.0f} rows/s), "
        f"rolled up in {rolled:.0f} s")
    SEED_RATES[kind] = (args.rows / seeded, seeded, rolled)


SEED_RATES: dict[str, tuple] = {}


def signed_in(app):
    from aichat.extensions import db
    from aichat.models import AdminUser

    with app.app_context():
        admin = db.session.execute(select(AdminUser).filter_by(username=USERNAME)).scalar_one_or_none()
        if admin is None:
            admin = AdminUser(username=USERNAME)
            db.session.add(admin)
        admin.role = "owner"  # every page opens, with every button it can show
        admin.set_password(PASSWORD)
        db.session.commit()
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/admin/login", data={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def timed(client, url: str, runs: int, needs_arguments: bool = False) -> float | None:
    """Median milliseconds of GET url (the whole body read), after one warm-up; None for a page that answers
    a 4xx without the arguments it is linked with (a confirmation step), when `needs_arguments` allows it."""
    response = client.get(url)
    if needs_arguments and 400 <= response.status_code < 500:
        return None
    assert response.status_code == 200, (url, response.status_code)
    response.get_data()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url)
        response.get_data()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def console_pages(app) -> list[str]:
    """Every GET page under /admin that takes no URL argument, but sign-in and downloads."""
    pages = []
    for rule in app.url_map.iter_rules():
        if (rule.rule.startswith("/admin") and "GET" in rule.methods and not rule.arguments
                and rule.endpoint not in ("admin.login", "admin.dashboard_data")
                and not rule.endpoint.endswith("_export")):
            pages.append(rule.rule)
    return sorted(set(pages))


def page_500(client, start: str) -> str:
    url = start
    for _ in range(499):
        match = _OLDER.search(client.get(url).get_data(as_text=True))
        if match is None:
            raise SystemExit(f"fewer than 500 pages at {start}: seed more rows")
        url = unescape(match.group(1))
    return url


def measure(app, runs: int) -> list[tuple[str, float, float]]:
    """(what, target ms, median ms) for each measurement."""
    from aichat.usage.days import today, usage_zone

    client, results = signed_in(app), []
    for path in console_pages(app):
        ms = timed(client, path, runs, needs_arguments=True)
        if ms is not None:
            results.append((f"`GET {path}`", PAGE_MS, ms))
    for path in LONGER_PAGES:
        results.append((f"`GET {path}`", PAGE_MS, timed(client, path, runs)))
    for label, query in (("", EXPLORER_RANGE), (f", {EXPLORER_FILTER}", f"{EXPLORER_RANGE}&{EXPLORER_FILTER}")):
        first = f"/admin/logs?{query}"
        results.append((f"explorer page 1 (30 days{label})", EXPLORER_MS, timed(client, first, runs)))
        results.append((f"explorer page 500 (30 days{label})", EXPLORER_MS, timed(client, page_500(client, first),
                                                                                 runs)))
    if "admin.dashboard_data" in app.view_functions:
        with app.test_request_context():
            from flask import url_for

            last = today(usage_zone(app.config))
            url = url_for("admin.dashboard_data", period="custom", **{"from": (last - timedelta(days=364)).isoformat(),
                                                                       "to": last.isoformat()})
        results.append(("dashboard data, 365 days", DASHBOARD_MS, timed(client, url, runs)))
    return results


def table(rows: int, measured: dict[str, list]) -> str:
    kinds = list(measured)
    lines = [f"Console server time, {rows:,} usage rows (median ms; in-process, signed in)", "",
             "| request | target | " + " | ".join(kinds) + " | met |",
             "| --- | ---: | " + " | ".join("---:" for _ in kinds) + " | --- |"]
    by_name: dict[str, dict] = {}
    for kind, results in measured.items():
        for name, target, ms in results:
            by_name.setdefault(name, {"target": target})[kind] = ms
    for name, cells in by_name.items():
        met = all(cells.get(k, 0) <= cells["target"] for k in kinds)
        lines.append(f"| {name} | ≤ {cells['target']:.0f} | "
                     + " | ".join(f"{cells[k]:.1f}" if k in cells else "—" for k in kinds)
                     + f" | {'met' if met else '**missed**'} |")
    for kind, (rate, seconds, rolled) in SEED_RATES.items():
        lines.append(f"\nSeeding on {kind}: {rate:,.0f} rows/s ({seconds:.0f} s), rollup {rolled:.0f} s.")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    measured = {}
    for kind in kinds:
        app = prepare(kind, args)
        log(f"{kind}: measuring")
        measured[kind] = measure(app, args.runs)
    print(table(args.rows, measured))


if __name__ == "__main__":
    main()
