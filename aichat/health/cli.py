"""`flask verify`: check a deployment."""
from __future__ import annotations

import click


@click.command(help="Check this deployment.")
def verify() -> None:
    pass
