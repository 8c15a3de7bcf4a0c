"""`flask verify`: check a deployment."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from .checks import FAIL, run_checks


@click.command(help="Check this deployment; exits 1 when any check fails.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@with_appcontext
def verify(as_json: bool) -> None:
    results = run_checks(current_app._get_current_object())
    failed = any(check.status == FAIL for check in results)
    if as_json:
        click.echo(json.dumps({"ok": not failed, "checks": [check.as_dict() for check in results]}, indent=2))
    else:
        width = max(len(check.name) for check in results)
        for check in results:
            click.echo(f"{check.name.ljust(width)}  {check.status.upper():4}  {check.reason}")
    if failed:
        raise SystemExit(1)
