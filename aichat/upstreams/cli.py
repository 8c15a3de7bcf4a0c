"""`flask upstreams …`: upstreams and their keys in the database, and the encryption of those keys."""
from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup

from aichat import audit
from aichat.commands import echo_table, refusing
from aichat.crypto import EncryptionKeyError, KeyRing, load_keyring
from aichat.extensions import db
from aichat.gateway.specs import SpecError, UpstreamSpec

from . import changes, listing, probe, store

# Bad input (unknown kind or upstream, duplicate name, bad URL, empty key …): one line on stderr, exit code 2.
_refusals = refusing(SpecError, exit_code=2)
TAKES_EFFECT = "running servers switch to it within seconds"


def _reserved() -> set[str]:
    return listing.environment_names(current_app.config)


def _keyring() -> KeyRing:
    try:
        return load_keyring(current_app.config, current_app.instance_path)
    except EncryptionKeyError as exc:
        raise click.ClickException(str(exc)) from None


def _snapshot(name: str) -> dict | None:
    return changes.snapshot(db.session, name)


def _models(value: str) -> list[str]:
    return value.split(",")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# An AppGroup runs each command in an app context, under `flask` and under the test runner alike.
@click.group(cls=AppGroup, help="Upstreams kept in the database and their keys (encrypted at rest).")
def upstreams() -> None:
    pass


@upstreams.command("add")
@click.argument("name")
@click.option("--kind", required=True, metavar="openai|gemini",
              help="The protocol: openai (also every OpenAI-compatible endpoint) or gemini.")
@click.option("--base-url", required=True, metavar="URL", help="Where the API is, e.g. https://api.deepseek.com/v1.")
@click.option("--models", required=True, metavar="'P1,P2'",
              help="Models it serves: names and patterns like 'deepseek-*'.")
@click.option("--default-model", default=None, metavar="M", help="Used when a request names no model "
                                                                  "(default: the first name in --models).")
@click.option("--priority", default="0", metavar="N", help="Higher goes first among upstreams serving a model.")
@click.option("--disabled", is_flag=True, help="Add it switched off (add keys and `test` it first).")
@_refusals
def add(name, kind, base_url, models, default_model, priority, disabled) -> None:
    """Add an upstream; then give it a key with `flask upstreams keys add NAME --label L`."""
    row = store.add_upstream(db.session, name, kind, base_url, _models(models), default_model, priority,
                             enabled=not disabled, reserved=_reserved())
    audit.record("upstreams.add", "upstream", row.name, after=_snapshot(row.name))
    click.echo(f"Added upstream {row.name!r} ({row.kind}, {row.base_url}){' disabled' if disabled else ''}; "
               f"add a key with: flask upstreams keys add {row.name} --label LABEL < keyfile", err=True)


@upstreams.command("list")
@json_option
def list_upstreams(as_json: bool) -> None:
    """Every upstream, from the environment and from the database."""
    found = listing.views(db.session, current_app.config)
    if as_json:
        click.echo(json.dumps([u.as_dict() for u in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No upstreams; add one with: flask upstreams add NAME --kind openai --base-url URL --models M",
                   err=True)
        return
    echo_table(("NAME", "KIND", "SOURCE", "STATE", "PRIORITY", "DEFAULT MODEL", "KEYS", "MODELS", "BASE URL"),
               [(u.name, u.kind, u.source, "enabled" if u.enabled else "disabled", str(u.priority), u.default_model,
                 _key_count(u), ",".join(u.models), u.base_url) for u in found])


def _key_count(upstream: listing.UpstreamView) -> str:
    """Keys in use of all keys, e.g. '1/2'."""
    return f"{sum(1 for k in upstream.keys if k.state == 'active')}/{len(upstream.keys)}"


@upstreams.command("show")
@click.argument("name")
@json_option
@_refusals
def show(name: str, as_json: bool) -> None:
    """One upstream and its keys (label, first and last 4 characters, state, last use and error)."""
    found = listing.view(db.session, current_app.config, name)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, ensure_ascii=False))
        return
    for field, value in (("name", found.name), ("kind", found.kind), ("source", found.source),
                         ("state", "enabled" if found.enabled else "disabled"), ("base URL", found.base_url),
                         ("models", ", ".join(found.models)), ("default model", found.default_model),
                         ("priority", found.priority), ("created", _when(found.created_at)),
                         ("updated", _when(found.updated_at))):
        click.echo(f"{field + ':':15}{value}")
    click.echo()
    _echo_keys(found)


def _echo_keys(upstream: listing.UpstreamView) -> None:
    if not upstream.keys:
        click.echo(f"{upstream.name!r} has no keys; add one with: flask upstreams keys add {upstream.name} "
                   f"--label LABEL < keyfile", err=True)
        return
    echo_table(("LABEL", "KEY", "STATE", "LAST USED", "LAST ERROR"),
               [(k.label, k.hint, k.state + (f": {k.why}" if k.why else ""), _when(k.last_used_at),
                 f"{k.last_error_code} at {_when(k.last_error_at)}" if k.last_error_code else "-")
                for k in upstream.keys])


@upstreams.command("update")
@click.argument("name")
@click.option("--base-url", default=None, metavar="URL")
@click.option("--models", default=None, metavar="'P1,P2'", help="Replaces the list of models and patterns.")
@click.option("--default-model", default=None, metavar="M")
@click.option("--priority", default=None, metavar="N")
@_refusals
def update(name, base_url, models, default_model, priority) -> None:
    """Change an upstream's base URL, models, default model or priority."""
    before = _snapshot(name)
    row = store.update_upstream(db.session, name, base_url=base_url,
                                models=_models(models) if models is not None else None,
                                default_model=default_model, priority=priority, reserved=_reserved())
    audit.record("upstreams.update", "upstream", row.name, before=before, after=_snapshot(row.name))
    click.echo(f"Updated upstream {row.name!r}; {TAKES_EFFECT}.", err=True)


@upstreams.command("disable")
@click.argument("name")
@_refusals
def disable(name: str) -> None:
    """Stop routing to an upstream; its keys and settings stay."""
    _set_enabled(name, False)


@upstreams.command("enable")
@click.argument("name")
@_refusals
def enable(name: str) -> None:
    """Route to a disabled upstream again."""
    _set_enabled(name, True)


def _set_enabled(name: str, enabled: bool) -> None:
    before = _snapshot(name)
    row, changed = store.set_enabled(db.session, name, enabled, _reserved())
    if changed:
        audit.record("upstreams.enable" if enabled else "upstreams.disable", "upstream", row.name, before=before,
                     after=_snapshot(row.name))
    state = "enabled" if enabled else "disabled"
    click.echo(f"{state.capitalize()} upstream {row.name!r}; {TAKES_EFFECT}." if changed
               else f"Upstream {row.name!r} was already {state}.", err=True)


@upstreams.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_refusals
def remove(name: str, yes: bool) -> None:
    """Remove an upstream and its keys."""
    row = store.get(db.session, name, _reserved())
    if not yes:
        count = len(row.keys)
        click.confirm(f"Remove upstream {row.name!r} and its {count} key{'s' if count != 1 else ''}?", abort=True,
                      err=True)
    before = _snapshot(name)
    count = store.remove_upstream(db.session, name, _reserved())
    audit.record("upstreams.remove", "upstream", name, before=before)
    click.echo(f"Removed upstream {name!r} and {count} key{'s' if count != 1 else ''}; {TAKES_EFFECT}.", err=True)


@upstreams.command("test")
@click.argument("name")
@click.option("--label", default=None, help="Test this key (default: the first enabled one).")
@_refusals
def test(name: str, label: str | None) -> None:
    """One tiny call to an upstream, even a disabled one: the result, the model that answered, the latency."""
    result = probe.run(current_app.config, _spec(name), label, caller="cli")
    if not result.ok:
        raise click.ClickException(f"{result.upstream} (key {result.label!r}): failed after {result.ms} ms: "
                                   f"{result.code}{f' (HTTP {result.status})' if result.status else ''}: "
                                   f"{result.message}")
    click.echo(f"ok: {result.upstream} (key {result.label!r}) answered in {result.ms} ms with model {result.model}"
               + (f", {result.tokens} tokens" if result.tokens is not None else ""))


def _spec(name: str) -> UpstreamSpec:
    """The upstream as the gateway would be built from it, keys decrypted."""
    found = probe.spec_of(db.session, current_app.config, name, _keyring)
    if found is None:
        store.get(db.session, name)  # says why there is none
    return found


# --- keys ----------------------------------------------------------------------


@upstreams.group("keys", cls=AppGroup, help="An upstream's keys: stored encrypted, shown only by first and last 4 "
                                            "characters.")
def keys() -> None:
    pass


@keys.command("add")
@click.argument("name")
@click.option("--label", required=True, help="A name for the key, unique in its upstream (e.g. main, backup).")
@_refusals
def add_key(name: str, label: str) -> None:
    """Add a key read from standard input (its first line), never from the command line, where `ps` shows it."""
    store.get(db.session, name, _reserved())  # before asking for the key
    keyring = _keyring()
    key = store.add_key(db.session, keyring, name, label, _key_from_stdin(name), _reserved())
    audit.record("upstreams.keys.add", "upstream_key", f"{name}/{key.label}",
                 after={"upstream": name, "label": key.label, "enabled": key.enabled})
    note = (" (encrypted with the key generated in instance/: set AICHAT_ENCRYPTION_KEY in production)"
            if keyring.generated else "")
    click.echo(f"Added key {key.label!r} ({key.hint}) to {name!r}{note}; {TAKES_EFFECT}.", err=True)


def _key_from_stdin(name: str) -> str:
    """The first line of stdin, stripped; at a terminal a hidden prompt."""
    if sys.stdin.isatty():
        secret = click.prompt(f"Key for {name!r}", hide_input=True, default="", show_default=False, err=True)
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        raise SpecError(f"no key on standard input: pipe it in, e.g. "
                        f"flask upstreams keys add {name} --label LABEL < keyfile")
    return secret


@keys.command("list")
@click.argument("name")
@json_option
@_refusals
def list_keys(name: str, as_json: bool) -> None:
    """An upstream's keys: label, first and last 4 characters, state (active, benched and why, disabled), last use
    and last error."""
    found = listing.view(db.session, current_app.config, name)
    if as_json:
        click.echo(json.dumps(found.as_dict()["keys"], indent=2, ensure_ascii=False))
        return
    _echo_keys(found)


@keys.command("disable")
@click.argument("name")
@click.argument("label")
@_refusals
def disable_key(name: str, label: str) -> None:
    """Stop using a key; it stays stored."""
    _set_key_enabled(name, label, False)


@keys.command("enable")
@click.argument("name")
@click.argument("label")
@_refusals
def enable_key(name: str, label: str) -> None:
    """Use a disabled key again."""
    _set_key_enabled(name, label, True)


def _set_key_enabled(name: str, label: str, enabled: bool) -> None:
    _, changed = store.set_key_enabled(db.session, name, label, enabled, _reserved())
    if changed:
        audit.record("upstreams.keys.enable" if enabled else "upstreams.keys.disable", "upstream_key",
                     f"{name}/{label}", before={"enabled": not enabled}, after={"enabled": enabled})
    state = "enabled" if enabled else "disabled"
    click.echo(f"{state.capitalize()} key {label!r} of {name!r}; {TAKES_EFFECT}." if changed
               else f"Key {label!r} of {name!r} was already {state}.", err=True)


@keys.command("remove")
@click.argument("name")
@click.argument("label")
@_refusals
def remove_key(name: str, label: str) -> None:
    """Delete a key; it cannot be shown or restored afterwards."""
    store.remove_key(db.session, name, label, _reserved())
    audit.record("upstreams.keys.remove", "upstream_key", f"{name}/{label}", before={"upstream": name, "label": label})
    click.echo(f"Removed key {label!r} of {name!r}; {TAKES_EFFECT}.", err=True)


# --- encryption ----------------------------------------------------------------


@upstreams.command("reencrypt")
def reencrypt() -> None:
    """Encrypt every stored key anew under the newest key in AICHAT_ENCRYPTION_KEY (after adding a new one first)."""
    keyring = _keyring()
    result = store.reencrypt(db.session, keyring)
    audit.record("upstreams.reencrypt", "upstream_keys", "*",
                 after={"reencrypted": result.rotated, "failed": [f"{u}/{label}" for u, label in result.failed]})
    click.echo(f"Re-encrypted {result.rotated} stored key{'s' if result.rotated != 1 else ''} under the newest "
               f"encryption key.", err=True)
    if result.failed:
        named = ", ".join(f"{upstream}/{label}" for upstream, label in result.failed)
        raise click.ClickException(f"{len(result.failed)} stored key{'s' if len(result.failed) != 1 else ''} cannot "
                                   f"be decrypted with the encryption keys in use ({named}): put the key they were "
                                   f"stored under back in AICHAT_ENCRYPTION_KEY (after the newest) and run this "
                                   f"again, or remove and re-add them")
    if keyring.size > 1:
        click.echo("Every stored key opens with the newest encryption key now: drop the older ones from "
                   "AICHAT_ENCRYPTION_KEY on every instance.", err=True)
