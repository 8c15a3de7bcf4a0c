"""`flask …` commands; each group lives beside the feature it operates."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Operator commands; `flask db …` comes from Flask-Migrate."""
    from .admin.cli import users
    from .audit_cli import audit_group
    from .health.cli import verify
    from .tenancy.cli import sites
    from .usage.cli import usage
    from .upstreams.cli import upstreams
    from .usage.prices_cli import prices
    from .usage.tokens_cli import tokens
    from .tenancy.keys_cli import keys_group

    for command in (users, upstreams, sites, keys_group, prices, tokens, usage, verify):
        app.cli.add_command(command)
    app.cli.add_command(audit_group, "audit")
