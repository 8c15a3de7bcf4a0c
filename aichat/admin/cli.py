"""`flask users …`: admin accounts and their API tokens."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click
from flask.cli import AppGroup

from aichat.commands import echo_table, refusing

from . import accounts

# An AccountError becomes a one-line message on stderr and exit code 1, never a traceback.
_refusals = refusing(accounts.AccountError)


def _new_password(from_stdin: bool) -> str:
    """One line from stdin (for scripts), or a hidden prompt asked twice; the policy is checked either way."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise accounts.AccountError("no password on stdin (expected one line)")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password", err=True)
    return accounts.check_password(password)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:  # SQLite returns naive UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


password_stdin = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of stdin instead of prompting.")


# An AppGroup runs each command in an app context, under `flask` and under the test runner alike.
@click.group(cls=AppGroup, help="Admin accounts and API tokens.")
def users() -> None:
    pass


@users.command("create-admin")
@click.argument("username")
@password_stdin
@_refusals
def create_admin(username: str, password_stdin: bool) -> None:
    """Create an admin who can log in to the console and use the monitoring API."""
    accounts.check_available(username)  # before asking for a password
    admin = accounts.create_admin(username, _new_password(password_stdin))
    click.echo(f"Created admin {admin.username!r}.", err=True)


@users.command("list")
def list_admins() -> None:
    """Admins: active or not, created, last login, number of live API tokens."""
    admins = accounts.all_admins()
    if not admins:
        click.echo("No admins yet; create one with: flask users create-admin USERNAME", err=True)
        return
    counts = accounts.live_token_counts()
    echo_table(("USERNAME", "ACTIVE", "CREATED", "LAST LOGIN", "TOKENS"),
           [(a.username, "yes" if a.is_active else "no", _when(a.created_at), _when(a.last_login_at),
             str(counts.get(a.id, 0))) for a in admins])


@users.command("set-password")
@click.argument("username")
@password_stdin
@_refusals
def set_password(username: str, password_stdin: bool) -> None:
    """Give an admin a new password; their open console sessions end."""
    admin = accounts.get(username)
    accounts.set_password(admin, _new_password(password_stdin))
    click.echo(f"Password changed for {admin.username!r}.", err=True)


@users.command("disable")
@click.argument("username")
@_refusals
def disable(username: str) -> None:
    """Stop an admin from logging in; their sessions and API tokens stop working at once."""
    _set_active(username, False)


@users.command("enable")
@click.argument("username")
@_refusals
def enable(username: str) -> None:
    """Let a disabled admin log in again; their unrevoked API tokens work again too."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    admin = accounts.get(username)
    accounts.set_active(admin, active)
    click.echo(f"{'Enabled' if active else 'Disabled'} {admin.username!r}.", err=True)


@users.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="A label to tell the token apart in `flask users tokens`.")
@_refusals
def create_token(username: str, name: str) -> None:
    """Print a new API token, alone on stdout (TOKEN=$(flask users create-token admin)); it is shown only once."""
    row, clear = accounts.issue_token(accounts.get(username), name)
    click.echo(clear)
    click.echo(f"Token {row.id} ({row.prefix}…) for {username!r}; store it now, it cannot be shown again. "
               f"Send it as 'Authorization: Bearer <token>'.", err=True)


@users.command("tokens")
@click.argument("username")
@_refusals
def list_tokens(username: str) -> None:
    """An admin's API tokens: id, name, prefix, created, last used, revoked."""
    rows = accounts.tokens_of(accounts.get(username))
    if not rows:
        click.echo(f"{username!r} has no API tokens.", err=True)
        return
    echo_table(("ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"),
           [(str(t.id), t.name or "-", t.prefix + "…", _when(t.created_at), _when(t.last_used_at),
             _when(t.revoked_at)) for t in rows])


@users.command("revoke-token")
@click.argument("token_id", metavar="ID", type=int)
@_refusals
def revoke_token(token_id: int) -> None:
    """Revoke an API token by its id (see `flask users tokens USERNAME`)."""
    row, was_live = accounts.revoke_token(token_id)
    click.echo(f"Revoked token {row.id} ({row.prefix}…)." if was_live else f"Token {row.id} was already revoked.",
               err=True)
