"""`flask usage …`: rollups, retention, export, demo data."""
from __future__ import annotations

import click


@click.group(help="Usage logs and daily rollups.")
def usage() -> None:
    pass
