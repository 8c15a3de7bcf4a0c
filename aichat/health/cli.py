"""`flask verify`: check this deployment, or with --url a deployed instance from outside."""
from __future__ import annotations

import json

import click
from flask.cli import ScriptInfo

from .checks import Check


@click.command(help="Check this deployment (or, with --url, a deployed instance); exits 1 when any check fails.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--live", is_flag=True, help="Also make one tiny real call to each provider (it costs a few tokens).")
@click.option("--url", help="Check the instance at this base URL instead of this installation.")
@click.option("--token", envvar="AICHAT_VERIFY_TOKEN", help="Admin API token for --url's /health/verify "
                                                            "[env AICHAT_VERIFY_TOKEN].")
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds each check (or HTTP call) may take.")
@click.pass_obj
def verify(info: ScriptInfo, as_json: bool, live: bool, url: str | None, token: str | None,
           timeout: float | None) -> None:
    if url:
        from .remote import verify_remote

        results, document = verify_remote(url, token, timeout or 10.0, live)
    else:
        from .checks import report, run_checks

        # Loaded only here: --url must work where this installation has no database or config.
        app = info.load_app()
        with app.app_context():
            results = run_checks(app, live=live, timeout=timeout)
        document = report(results)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        _table(results, document)
    if not document["ok"]:
        raise SystemExit(1)


def _table(results: list[Check], document: dict) -> None:
    from aichat.commands import echo_table

    echo_table(("CHECK", "STATUS", "MS", "REASON"),
               [(c.name, c.status.upper(), "" if c.ms is None else f"{c.ms:.0f}", c.reason) for c in results])
    counts = {status: sum(c.status == status for c in results) for status in ("ok", "warn", "fail")}
    click.echo(f"\n{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
               f" - aichat {document.get('version') or 'version unknown'}"
               + ("" if counts["fail"] == 0 else " - FAILED"))
