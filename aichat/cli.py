"""`flask …` commands."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Operator commands; `flask db …` comes from Flask-Migrate."""
