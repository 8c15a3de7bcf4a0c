"""`flask tokens …`: tiktoken's encoding files, fetched on a connected machine and checked where they are used."""
from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import AppGroup

from aichat.gateway import tokens as tokens_mod


@click.group(cls=AppGroup, help="Token counting (tiktoken encodings).")
def tokens() -> None:
    pass


def _directory(directory: str | None) -> str:
    return os.path.abspath(directory or current_app.config["TIKTOKEN_CACHE_DIR"])


@tokens.command("fetch")
@click.option("--dir", "directory", default=None, help="Where to put the files (default: TIKTOKEN_CACHE_DIR).")
@click.option("--encoding", "names", multiple=True, type=click.Choice(tokens_mod.ENCODINGS),
              help="Only this encoding (repeatable; default: all).")
def fetch(directory: str | None, names: tuple[str, ...]) -> None:
    """Download tiktoken's encoding files into DIR (on a connected machine) and verify them."""
    directory = _directory(directory)
    failed = []
    for name in names or tokens_mod.ENCODINGS:
        try:
            tokens_mod.fetch(directory, name)
        except Exception as exc:  # noqa: BLE001 - report every encoding, then fail
            failed.append(name)
            click.echo(f"{name}: download failed: {type(exc).__name__}: {exc}", err=True)
            continue
        _, state = tokens_mod.check_file(directory, name)
        if state != "ok":
            failed.append(name)
        click.echo(f"{name}: {state if state != 'ok' else 'verified'} ({tokens_mod.cache_path(directory, name)})")
    if failed:
        raise click.ClickException(f"not fetched: {', '.join(failed)}")
    click.echo(f"Copy the files in {directory} to TIKTOKEN_CACHE_DIR on each server (same file names) "
               f"and restart it.", err=True)


@tokens.command("status")
@click.option("--dir", "directory", default=None, help="Directory to check (default: TIKTOKEN_CACHE_DIR).")
def status(directory: str | None) -> None:
    """Which counting is in force: tiktoken with which encodings, or the rule and why (JSON)."""
    click.echo(json.dumps(tokens_mod.TokenCounter.from_dir(_directory(directory)).describe(), indent=2))
