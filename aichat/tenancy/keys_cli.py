"""`flask keys …`: the client keys of each site, for server callers of `/v1` and the browser endpoint.

A new key is printed alone on standard output, once (everything else goes to standard error), so
`flask keys create --site shop.example.com > key.txt` keeps it and nothing else. Commands that act on
a key take its visible prefix; the whole key only from standard input (`-`), never as an argument,
where `ps` and shell history would show it.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from aichat.commands import echo_table, refusing
from aichat.extensions import db
from aichat.models import ClientKey

from . import keys
from .specs import LIMIT_NAMES, SpecError
from .store import _VISIBLE, KEY_PREFIX

# Bad input (unknown site or key, ambiguous prefix, bad duration or limit): one line on stderr, exit code 2.
_refusals = refusing(SpecError, exit_code=2)
_MARGIN = 1.0  # seconds beyond one poll interval: a worker's poll may start just before the change and take a while

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
key_argument = click.argument("key_or_prefix", metavar="PREFIX|-")


@click.group("keys", cls=AppGroup, help="Client keys of the sites, for servers calling /v1 (stored as hashes).")
def keys_group() -> None:
    pass


def _audit(action: str, before: dict | None, after: dict | None) -> None:
    """The one place each change is handed to the audit log (before and after, no secrets in them)."""


def _find(key_or_prefix: str) -> ClientKey:
    """The key named by a prefix argument, or read whole from stdin with `-`."""
    if key_or_prefix == "-":
        given = sys.stdin.readline().strip()
        if not given:
            raise SpecError("no key on standard input: pipe the whole key in, e.g. flask keys show - < key.txt")
        return keys.find(db.session, given)
    if len(key_or_prefix) > _VISIBLE:
        ours = key_or_prefix.startswith(KEY_PREFIX)  # anything else is not echoed: it may be another secret
        prefix = key_or_prefix[:_VISIBLE] if ours else f"({KEY_PREFIX}…, see flask keys list)"
        raise SpecError(f"a whole key on the command line is seen by ps and shell history: give its prefix "
                        f"{prefix}, or - and the key on standard input")
    return keys.find(db.session, key_or_prefix)


def _duration(value: str | None, what: str, zero: bool = False) -> timedelta | None:
    return keys.check_duration(value, what, zero) if value is not None else None


def _wait_for_workers(done: str) -> None:
    """Return once every running server has reloaded its keys: one poll interval and a margin."""
    interval = float(current_app.config["AICHAT_CONFIG_POLL_INTERVAL"])
    if interval <= 0:
        click.echo(f"{done}. AICHAT_CONFIG_POLL_INTERVAL is 0 here, so servers with that setting never reload: "
                   "restart them for it to take effect.", err=True)
        return
    wait = interval + _MARGIN
    click.echo(f"{done}; waiting {wait:g} s (AICHAT_CONFIG_POLL_INTERVAL + {_MARGIN:g} s) for every running "
               "server to reload…", err=True)
    time.sleep(wait)
    click.echo("Done: every server refuses it from its next request.", err=True)


def _limits_text(limits: dict) -> str:
    shown = [f"{name}={limits[name]}" for name in LIMIT_NAMES if limits.get(name) is not None]
    if any(name.startswith("cost") for name in limits):
        shown.append(limits.get("currency", "USD"))
    return " ".join(shown) or "-"


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] + " UTC" if iso else "-"


@keys_group.command("create")
@click.option("--site", "domain", required=True, metavar="DOMAIN", help="The site the key belongs to.")
@click.option("--name", default="", metavar="N", help="What it is for, e.g. 'checkout backend'.")
@click.option("--expires", default=None, metavar="30d", help="Stop working after this long (s, m, h, d, w).")
@click.option("--models", default=None, metavar="'A,B*'", help="Only these models (names and patterns).")
@click.option("--rpm", default=None, metavar="N", help="Requests per minute.")
@click.option("--tpm", default=None, metavar="N", help="Tokens per minute.")
@click.option("--tpd", default=None, metavar="N", help="Tokens per day.")
@click.option("--cost-day", default=None, metavar="X", help="Cost per day, in USD.")
@click.option("--cost-month", default=None, metavar="X", help="Cost per month, in USD.")
@_refusals
def create(domain, name, expires, models, rpm, tpm, tpd, cost_day, cost_month) -> None:
    """Create a key; it is printed alone on standard output, this once."""
    limits = {"rpm": rpm, "tpm": tpm, "tpd": tpd, "cost_day": cost_day, "cost_month": cost_month}
    issued = keys.create(db.session, domain, name=name, expires_in=_duration(expires, "--expires"),
                         models=models.split(",") if models is not None else (), limits=limits)
    _audit("keys.create", None, issued.after)
    click.echo(issued.key)
    click.echo(f"Created client key {issued.row.prefix} for site {issued.after['site']} "
               f"({issued.after['state']}). It is shown this once: store it now. Running servers accept it "
               "within AICHAT_CONFIG_POLL_INTERVAL.", err=True)


@keys_group.command("list")
@click.option("--site", "domain", default=None, metavar="DOMAIN", help="Only this site's keys.")
@json_option
@_refusals
def list_keys(domain: str | None, as_json: bool) -> None:
    """Every key (or a site's): prefix, name, site, state, models, limits, created, last used."""
    found = [keys.as_dict(row) for row in keys.listed(db.session, domain)]
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No client keys; create one with: flask keys create --site DOMAIN", err=True)
        return
    echo_table(("PREFIX", "NAME", "SITE", "STATE", "MODELS", "LIMITS", "CREATED", "LAST USED"),
               [(k["prefix"], k["name"] or "-", k["site"], k["state"], ",".join(k["models"]) or "all",
                 _limits_text(k["limits"]), _when(k["created_at"]), _when(k["last_used_at"])) for k in found])


@keys_group.command("show")
@key_argument
@json_option
@_refusals
def show(key_or_prefix: str, as_json: bool) -> None:
    """One key, by its prefix (or the whole key on standard input with -)."""
    found = keys.as_dict(_find(key_or_prefix))
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for field, value in (("prefix", found["prefix"]), ("name", found["name"] or "-"), ("site", found["site"]),
                         ("state", found["state"]), ("models", ", ".join(found["models"]) or "all"),
                         ("limits", _limits_text(found["limits"])), ("expires", _when(found["expires_at"])),
                         ("revoked", _when(found["revoked_at"])), ("replaced by", found["replaced_by"] or "-"),
                         ("created", _when(found["created_at"])), ("last used", _when(found["last_used_at"]))):
        click.echo(f"{field + ':':13}{value}")


@keys_group.command("revoke")
@key_argument
@click.option("--no-wait", is_flag=True, help="Return at once, before every server has reloaded.")
@_refusals
def revoke(key_or_prefix: str, no_wait: bool) -> None:
    """Revoke a key; waits until every running server refuses it (one AICHAT_CONFIG_POLL_INTERVAL and a
    second), unless --no-wait."""
    row = _find(key_or_prefix)
    before, after = keys.revoke(db.session, row)
    if before == after:
        click.echo(f"Client key {row.prefix} was already revoked.", err=True)
        return
    _audit("keys.revoke", before, after)
    done = f"Revoked client key {row.prefix} of site {after['site']}"
    click.echo(done + ".", err=True) if no_wait else _wait_for_workers(done)


@keys_group.command("rotate")
@key_argument
@click.option("--grace", default="24h", show_default=True, metavar="24h",
              help="How long the old key keeps working (0: not at all).")
@click.option("--expires", default=None, metavar="30d",
              help="The new key's lifetime (default: as long as the old key's was).")
@_refusals
def rotate(key_or_prefix: str, grace: str, expires: str | None) -> None:
    """Issue a new key for the same site, models and limits, printed alone on standard output; the old one
    works until the grace period ends (with --grace 0, waits until every server refuses it)."""
    grace_period, lifetime = _duration(grace, "--grace", zero=True), _duration(expires, "--expires")
    row = _find(key_or_prefix)
    issued, old_after = keys.rotate(db.session, row, grace_period, lifetime)
    _audit("keys.rotate", issued.before, old_after)
    _audit("keys.create", None, issued.after)
    click.echo(issued.key)
    click.echo(f"Issued client key {issued.row.prefix} for site {issued.after['site']}, replacing {row.prefix} "
               f"({old_after['state']}). The new key is shown this once: store it now.", err=True)
    if old_after["state"] == "expired":
        _wait_for_workers(f"Client key {row.prefix} stopped working")
