"""What every `flask …` command shares: a refusal as one line on stderr and an exit code, and plain tables.

Feature CLIs import this module, never aichat/cli.py, which imports them to register them.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import click


def refusing(error: type[Exception], exit_code: int = 1) -> Callable[[Callable], Callable]:
    """A command decorator: `error` becomes its message on stderr and `exit_code`, never a traceback."""

    def decorate(command: Callable) -> Callable:
        @wraps(command)
        def wrapper(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except error as exc:
                refusal = click.ClickException(str(exc))
                refusal.exit_code = exit_code
                raise refusal from None

        return wrapper

    return decorate


def echo_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell, a line per row, the header first."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
