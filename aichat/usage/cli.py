"""`flask usage …`: rollups, retention, export, demo data."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from aichat import audit
from aichat.extensions import db

from . import export, retention, rollup
from .days import parse_date, parse_range, usage_zone, utc_iso


@click.group(help="Usage logs and daily rollups.")
def usage() -> None:
    pass


def _zone():
    try:
        return usage_zone(current_app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _date_option(value: str | None, name: str):
    if value is None:
        return None
    try:
        return parse_date(value, name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@usage.command("rollup", help="Recompute daily rollups: the days changed since the last run (default), every "
                              "day from --since to today, or --all days that still have logs.")
@click.option("--since", metavar="YYYY-MM-DD", help="Recompute every day from this local date to today.")
@click.option("--all", "everything", is_flag=True, help="Recompute every day from the oldest log row to today.")
@with_appcontext
def rollup_command(since: str | None, everything: bool) -> None:
    zone, engine = _zone(), db.engine
    first = _date_option(since, "--since")
    if first is not None and everything:
        raise click.ClickException("use either --since or --all, not both")
    rollup.ensure_zone(engine, zone)
    if first is not None or everything:
        kept = rollup.first_recomputable_day(engine, zone)
        if kept is not None and (first is None or first < kept):
            click.echo(f"Days before {kept} keep the rollups they have: their logs were pruned.", err=True)
        days = rollup.days_with_logs(engine, zone, first)
    else:
        days = rollup.dirty_days(engine)
    with click.progressbar(days, label="Rolling up", file=sys.stderr, show_pos=True) as bar:
        result = rollup.rollup_days(engine, zone, bar)
    skipped = f", {result.skipped} skipped (logs pruned)" if result.skipped else ""
    click.echo(f"Rolled up {result.days} days ({zone.key}): {result.rows} stats rows{skipped}.")


@usage.command("prune", help="Delete usage log rows older than the start of the local day N days ago, "
                             "after bringing their daily rollups up to date (the rollups are kept).")
@click.option("--older-than", "older_than", required=True, metavar="Nd", help="Age in days, such as 90d.")
@click.option("--batch-size", default=10000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Rows deleted per transaction.")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@with_appcontext
def prune_command(older_than: str, batch_size: int, dry_run: bool) -> None:
    try:
        age = retention.parse_age(older_than)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    zone, engine = _zone(), db.engine
    pruning = retention.plan(engine, zone, age)
    when = f"before {pruning.cutoff_day} ({zone.key}; {utc_iso(pruning.cutoff)})"
    if dry_run:
        click.echo(f"Would delete {pruning.rows} log rows created {when}; nothing was changed.")
        return
    retention.roll_up_before_prune(engine, zone, pruning)
    with click.progressbar(length=pruning.rows, label="Deleting", file=sys.stderr, show_pos=True) as bar:
        deleted = retention.delete_batches(engine, pruning.cutoff, batch_size, bar.update)
    audit.record("usage.prune", "usage_log", f"before {pruning.cutoff_day}",
                 after={"deleted": deleted, "cutoff": pruning.cutoff, "older_than_days": age})
    click.echo(f"Deleted {deleted} log rows created {when}; the daily rollups of those days are kept.")


@usage.command("export", help="Write usage as CSV: every log row, or the daily rollup, for local days FROM..TO.")
@click.argument("what", type=click.Choice(["logs", "daily"]))
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First local day (inclusive).")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last local day (inclusive).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@with_appcontext
def export_command(what: str, start: str, end: str, output: str | None) -> None:
    try:
        first, last = parse_range(start, end)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    chunks = export.log_csv(db.session, first, last, _zone()) if what == "logs" else \
        export.daily_csv(db.session, first, last)
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as file:  # the CSV has its own CRLF line ends
        for chunk in chunks:
            file.write(chunk)


@usage.command("seed-demo", help="Fill the usage log with a realistic spread of demo traffic over the last N days, "
                                 "priced and rolled up (request ids start with demo-).")
@click.option("--rows", default=100_000, show_default=True, type=click.IntRange(1, 100_000_000),
              help="Log rows to write (one per upstream attempt).")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 366), help="Days to spread them over.")
@click.option("--seed", "seed_value", default=1, show_default=True, help="Random seed: the same seed gives the same rows.")
@click.option("--force", is_flag=True, help="Write demo rows even though the log holds real traffic.")
@click.option("--clear", "clear_only", is_flag=True, help="Delete every demo row instead (and update the rollups).")
@with_appcontext
def seed_demo_command(rows: int, days: int, seed_value: int, force: bool, clear_only: bool) -> None:
    from sqlalchemy import func, select

    from aichat.models import AIUsageLog

    from . import seed
    from .costing import load_price_book

    zone, engine = _zone(), db.engine
    rollup.ensure_zone(engine, zone)
    if clear_only:
        with click.progressbar(length=0, label="Deleting demo rows", file=sys.stderr) as bar:
            deleted = seed.clear(engine, zone, progress=bar.update)
    else:
        with engine.connect() as conn:
            real = conn.execute(select(func.count()).select_from(AIUsageLog)
                                .where(~AIUsageLog.request_id.startswith(seed.DEMO_PREFIX))).scalar_one()
        if real and not force:
            raise click.ClickException(f"the usage log holds {real} rows of real traffic; demo rows would mix "
                                       "into its figures (use --force to write them anyway)")
        with click.progressbar(length=rows, label="Writing demo rows", file=sys.stderr, show_pos=True) as bar:
            written = seed.seed(engine, load_price_book(), zone, rows, days, seed_value, progress=bar.update)
    days_to_roll = rollup.dirty_days(engine)
    with click.progressbar(days_to_roll, label="Rolling up", file=sys.stderr, show_pos=True) as bar:
        result = rollup.rollup_days(engine, zone, bar)
    done = f"Deleted {deleted} demo rows" if clear_only else f"Wrote {written} demo rows over {days} days"
    audit.record("usage.seed_demo", "usage_log", "demo",
                 after={"deleted": deleted} if clear_only else {"written": written, "days": days, "seed": seed_value})
    click.echo(f"{done}; rolled up {result.days} days ({zone.key}).")
