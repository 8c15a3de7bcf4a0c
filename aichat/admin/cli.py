"""`flask users …`: admin accounts and their API tokens."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click
from flask.cli import AppGroup

from aichat import audit
from aichat.commands import echo_table, refusing
from aichat.models.accounts import ROLES

from . import accounts, lockout

# An AccountError becomes a one-line message on stderr and exit code 1, never a traceback; taking away the
# last owner is refused with exit code 2.
_refusals = refusing(accounts.AccountError)
_keeps_an_owner = refusing(accounts.LastOwnerError, exit_code=2)
role_choice = click.Choice(ROLES)


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
@click.option("--role", type=role_choice, default=None,
              help="viewer (reads), admin (changes the configuration) or owner (also manages admins); "
                   "default: owner for the first admin, admin after that.")
@password_stdin
@_refusals
def create_admin(username: str, role: str | None, password_stdin: bool) -> None:
    """Create an admin who can log in to the console and use the monitoring API."""
    accounts.check_available(username)  # before asking for a password
    admin = accounts.create_admin(username, _new_password(password_stdin), role)
    audit.record("users.create", "admin", admin.username, after=accounts.snapshot(admin))
    click.echo(f"Created {admin.role} {admin.username!r}.", err=True)


@users.command("list")
def list_admins() -> None:
    """Admins: active or not, created, last login, number of live API tokens."""
    admins = accounts.all_admins()
    if not admins:
        click.echo("No admins yet; create one with: flask users create-admin USERNAME", err=True)
        return
    counts = accounts.live_token_counts()
    echo_table(("USERNAME", "ROLE", "ACTIVE", "CREATED", "LAST LOGIN", "LOCKED UNTIL", "TOKENS"),
               [(a.username, a.role, "yes" if a.is_active else "no", _when(a.created_at), _when(a.last_login_at),
                 _when(a.locked_until) if lockout.locked(a, a.username) else "-", str(counts.get(a.id, 0)))
                for a in admins])


@users.command("set-password")
@click.argument("username")
@password_stdin
@_refusals
def set_password(username: str, password_stdin: bool) -> None:
    """Give an admin a new password; their open console sessions end."""
    admin = accounts.get(username)
    accounts.set_password(admin, _new_password(password_stdin))
    audit.record("users.set_password", "admin", admin.username, after={"password": "changed"})
    click.echo(f"Password changed for {admin.username!r}.", err=True)


@users.command("disable")
@click.argument("username")
@_refusals
@_keeps_an_owner
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
    before = accounts.snapshot(admin)
    accounts.set_active(admin, active)
    audit.record("users.enable" if active else "users.disable", "admin", admin.username, before=before,
                 after=accounts.snapshot(admin))
    click.echo(f"{'Enabled' if active else 'Disabled'} {admin.username!r}.", err=True)


@users.command("create-token")
@click.argument("username")
@click.option("--name", default="", help="A label to tell the token apart in `flask users tokens`.")
@_refusals
def create_token(username: str, name: str) -> None:
    """Print a new API token, alone on stdout (TOKEN=$(flask users create-token admin)); it is shown only once."""
    row, clear = accounts.issue_token(accounts.get(username), name)
    audit.record("users.create_token", "token", row.id, after=_token_snapshot(row))
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
    if was_live:
        audit.record("users.revoke_token", "token", row.id, before={**_token_snapshot(row), "revoked": False},
                     after={**_token_snapshot(row), "revoked": True})
    click.echo(f"Revoked token {row.id} ({row.prefix}…)." if was_live else f"Token {row.id} was already revoked.",
               err=True)


def _token_snapshot(row) -> dict:
    """What the audit log keeps of an API token: whose, its name and visible prefix, never the token."""
    return {"admin": row.admin.username, "name": row.name, "prefix": row.prefix}


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=role_choice)
@_refusals
@_keeps_an_owner
def set_role(username: str, role: str) -> None:
    """Give an admin another role: viewer, admin or owner (the last active owner cannot be demoted)."""
    admin = accounts.get(username)
    before = accounts.snapshot(admin)
    if admin.role == role:
        click.echo(f"{admin.username!r} is already a {role}.", err=True)
        return
    accounts.set_role(admin, role)
    audit.record("users.set_role", "admin", admin.username, before=before, after=accounts.snapshot(admin))
    click.echo(f"{admin.username!r} is now a {role}; it applies to their next request.", err=True)


@users.command("unlock")
@click.argument("username")
@_refusals
def unlock(username: str) -> None:
    """Let an admin locked out by failed logins sign in again now, and clear the count."""
    admin = accounts.get(username)
    before = accounts.snapshot(admin)
    if not accounts.unlock(admin):
        click.echo(f"{admin.username!r} was not locked; its failed logins are cleared.", err=True)
        return
    audit.record("users.unlock", "admin", admin.username, before=before, after=accounts.snapshot(admin))
    click.echo(f"Unlocked {admin.username!r}.", err=True)


@users.command("remove")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_refusals
@_keeps_an_owner
def remove(username: str, yes: bool) -> None:
    """Delete an admin and their API tokens (the last active owner cannot be removed)."""
    admin = accounts.get(username)
    if not yes:
        click.confirm(f"Remove admin {admin.username!r} and their API tokens?", abort=True, err=True)
    before = accounts.snapshot(admin)
    accounts.remove(admin)
    audit.record("users.remove", "admin", username, before=before)
    click.echo(f"Removed {username!r}.", err=True)
