"""`flask prices …` and `flask tokens …`: the price table and tiktoken's encoding files."""
from __future__ import annotations

import click


@click.group(help="Model prices.")
def prices() -> None:
    pass


@click.group(help="Token counting (tiktoken encodings).")
def tokens() -> None:
    pass
