"""`flask audit …`: read the audit log."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import click
from flask.cli import AppGroup

from aichat import audit
from aichat.commands import echo_table

_AGE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str | None) -> datetime | None:
    """'7d', '24h', '30m' ago, or a UTC day 'YYYY-MM-DD'; None for None."""
    if value is None:
        return None
    match = _AGE.match(value.strip())
    if match:
        return datetime.now(timezone.utc) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        return datetime.combine(date.fromisoformat(value.strip()), datetime.min.time(), tzinfo=timezone.utc)
    except ValueError:
        raise click.BadParameter(f"expected an age such as 7d, 24h or 30m, or a day YYYY-MM-DD; got {value!r}",
                                 param_hint="--since") from None


@click.group(cls=AppGroup, help="The audit log: every change made by an admin or through these commands.")
def audit_group() -> None:
    pass


@audit_group.command("list")
@click.option("--since", default=None, metavar="7d|24h|YYYY-MM-DD", help="Only events this recent (default: all).")
@click.option("--actor", default=None, help="Only this actor: an admin's username, or cli:<os user>.")
@click.option("--target", default=None, metavar="NAME|TYPE|TYPE:NAME", help="Only changes to this target.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 1_000_000), help="Newest events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (before and after in full) instead of a table.")
def list_events(since: str | None, actor: str | None, target: str | None, limit: int, as_json: bool) -> None:
    """Changes, newest first: when, who, from where, what, to which target, and what changed (secrets masked)."""
    rows = audit.events(parse_since(since), actor, target, limit)
    if as_json:
        click.echo(json.dumps([audit.as_dict(row) for row in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("No audit events for this selection.", err=True)
        return
    echo_table(("AT (UTC)", "ACTOR", "FROM", "ACTION", "TARGET", "CHANGE"),
               [(row.created_at.strftime("%Y-%m-%d %H:%M:%S"), row.actor, row.address, row.action,
                 f"{row.target_type}:{row.target}", audit.changes(row)) for row in rows])
