"""`flask …` commands; each group lives beside the feature it operates."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Operator commands; `flask db …` comes from Flask-Migrate."""
    from .admin.cli import users
    from .health.cli import verify
    from .tenancy.cli import sites
    from .usage.cli import usage
    from .upstreams.cli import upstreams
    from .usage.prices_cli import prices
    from .usage.tokens_cli import tokens

    for command in (users, upstreams, sites, prices, tokens, usage, verify):
        app.cli.add_command(command)
