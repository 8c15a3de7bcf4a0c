"""`flask users …`: admin accounts and their API tokens."""
from __future__ import annotations

import click


@click.group(help="Admin accounts and API tokens.")
def users() -> None:
    pass
