"""`flask sites …`: the sites (tenants) whose pages and servers may call the gateway."""
from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from aichat import audit
from aichat.commands import echo_table, refusing
from aichat.crypto import EncryptionKeyError, load_keyring
from aichat.extensions import db

from . import identity_secret as identity
from . import sites as store
from .directory import LOCAL_DOMAIN
from .specs import LIMIT_NAMES, ON_DISCONNECT_MODES, SpecError

# Bad input (bad domain or origin, an origin another site uses, an unknown preset field …): one line, exit code 2.
_refusals = refusing(SpecError, exit_code=2)
_keyring_refusals = refusing(EncryptionKeyError, exit_code=1)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
CLEAR = "none"  # the value that clears a preset field or a limit


def _takes_effect() -> str:
    interval = current_app.config["AICHAT_CONFIG_POLL_INTERVAL"]
    if not interval:
        return "running servers do not poll (AICHAT_CONFIG_POLL_INTERVAL=0): restart them"
    return f"running servers follow within {interval:g} s"


def _done(action: str, change: store.Change) -> store.Change:
    """Every change made here passes through this one place: one audit entry, with the site before and after."""
    site = change.after or change.before
    audit.record(action, "site", site["domain"], before=change.before, after=change.after)
    return change


def _reserved() -> list[str]:
    return current_app.config["AICHAT_ALLOWED_ORIGINS"]


# --- options shared by create and update --------------------------------------


def preset_options(command):
    """The assistant preset's fields as options; `none` clears one."""
    options = [
        click.option("--preset-file", type=click.File("r", encoding="utf-8"), default=None, metavar="FILE",
                     help="A JSON object of preset fields (as `show --json` prints them; '-' reads stdin); "
                          "the options below apply on top."),
        click.option("--system-prompt", default=None, metavar="TEXT",
                     help="Put first in every browser conversation ('' clears it)."),
        click.option("--system-prompt-file", type=click.File("r", encoding="utf-8"), default=None, metavar="FILE",
                     help="The system prompt from a file ('-' reads stdin)."),
        click.option("--client-system", default=None, metavar="refuse|replace|allow",
                     help="A browser's own system message: refused with 400 (the default), replaced by the "
                          "site's, or kept after it."),
        click.option("--default-model", default=None, metavar="M", help="Used when a browser names no model."),
        click.option("--allowed-models", default=None, metavar="'A,B*'",
                     help="The models browsers may ask for: names and patterns."),
        click.option("--temperature-range", default=None, metavar="LOW-HIGH", help="e.g. 0.2-1.0, or 0.5- or -1."),
        click.option("--max-tokens", default=None, metavar="N",
                     help="Cap on a reply's tokens: more is refused, none asked gets the cap."),
        click.option("--max-input-chars", default=None, metavar="N", help="Characters of all messages sent."),
        click.option("--max-input-tokens", default=None, metavar="N", help="Estimated tokens of all messages sent."),
        click.option("--max-messages", default=None, metavar="N", help="Messages in one request."),
        click.option("--suggestions/--no-suggestions", default=None, help="Follow-up suggestions on or off."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def limit_options(command):
    """The site's limits as options (stored here, enforced by the limits engine); `none` clears one."""
    helps = {"rpm": "requests per minute (the whole site)", "rpm_ip": "requests per minute per client address",
             "rpm_user": "requests per minute per end user", "tpm": "tokens per minute", "tpd": "tokens per day",
             "cost_day": "cost per day, in --currency", "cost_month": "cost per month, in --currency"}
    for name in reversed(LIMIT_NAMES):
        flag = f"--{name.replace('_', '-')}"
        command = click.option(flag, name, default=None, metavar="N", help=helps[name])(command)
    return click.option("--currency", default=None, metavar="USD", help="The currency of the cost budgets.")(command)


def ip_options(command):
    """--allow-ip and --deny-ip: each given replaces that whole list (`none` empties it)."""
    command = click.option("--deny-ip", "deny_ips", multiple=True, metavar="CIDR",
                           help="Never from these addresses or networks (deny wins; repeat; `none` clears).")(command)
    return click.option("--allow-ip", "allow_ips", multiple=True, metavar="CIDR",
                        help="Only from these addresses or networks, IPv4 or IPv6 (repeat; `none` clears).")(command)


def _ip_changes(values: dict[str, Any]) -> dict[str, list[str]]:
    changes = {}
    for option, column in (("allow_ips", "ip_allow"), ("deny_ips", "ip_deny")):
        entries = values.pop(option, ())
        if entries:
            changes[column] = [] if list(entries) == ["none"] else list(entries)
    return changes


def _preset_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The preset fields the options set (popped from `values`); None clears a field."""
    changes: dict[str, Any] = {}
    source = values.pop("preset_file")
    if source is not None:
        try:
            loaded = json.load(source)
        except ValueError as exc:
            raise SpecError(f"--preset-file is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise SpecError("--preset-file must hold a JSON object of preset fields")
        changes.update(loaded)
    prompt, prompt_file = values.pop("system_prompt"), values.pop("system_prompt_file")
    if prompt is not None and prompt_file is not None:
        raise SpecError("give --system-prompt or --system-prompt-file, not both")
    if prompt_file is not None:
        prompt = prompt_file.read().strip()
    if prompt is not None:
        changes["system_prompt"] = prompt or None
    for name in ("client_system", "default_model", "max_tokens", "max_input_chars", "max_input_tokens",
                 "max_messages", "suggestions"):
        value = values.pop(name)
        if value is not None:
            changes[name] = None if value == CLEAR else value
    models = values.pop("allowed_models")
    if models is not None:
        changes["allowed_models"] = [] if models == CLEAR else models.split(",")
    span = values.pop("temperature_range")
    if span is not None:
        changes["temperature_min"], changes["temperature_max"] = _temperature_range(span)
    if changes.get("client_system", "") is None:
        changes["client_system"] = "refuse"
    return changes


def _temperature_range(span: str) -> tuple[str | None, str | None]:
    if span.strip() == CLEAR:
        return None, None
    low, dash, high = span.strip().partition("-")
    if not dash or not (low or high):
        raise SpecError(f"--temperature-range {span!r} is not LOW-HIGH (e.g. 0.2-1.0, 0.5- or -1.0), or none")
    return low or None, high or None


def _limit_changes(values: dict[str, Any]) -> dict[str, Any]:
    """The limits the options set (popped from `values`); None clears one."""
    changes = {}
    for name in (*LIMIT_NAMES, "currency"):
        value = values.pop(name)
        if value is not None:
            changes[name] = None if value == CLEAR else value
    return changes


# --- commands ------------------------------------------------------------------


@click.group(cls=AppGroup, help="Sites: the pages (origins) and servers (client keys) that may call the gateway, "
                                "with each one's assistant preset and limits.")
def sites() -> None:
    pass


@sites.command("create")
@click.argument("domain")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="A page origin allowed to call, e.g. https://shop.example.com (repeat for more).")
@click.option("--name", default=None, help="A display name (default: the domain).")
@click.option("--anonymous/--no-anonymous", "allow_anonymous", default=True,
              help="Whether visitors who are not signed in may chat (default: yes).")
@ip_options
@preset_options
@limit_options
@_refusals
def create(domain: str, origins: tuple[str, ...], name: str | None, allow_anonymous: bool, **values) -> None:
    """Add a site; its publishable key (pk_…, safe in a page) is printed alone on standard output."""
    if not origins:
        raise SpecError("give at least one --origin URL, the page origin browsers call from "
                        "(e.g. --origin https://shop.example.com)")
    change = _done("sites.create", store.create_site(
        db.session, domain, origins, name=name, allow_anonymous=allow_anonymous, preset=_preset_changes(values),
        limits=_limit_changes(values), reserved_origins=_reserved(), ip_lists=_ip_changes(values)))
    site = change.after
    click.echo(site["publishable_key"])
    click.echo(f"Created site {site['domain']!r} for {', '.join(site['origins'])}; {_takes_effect()}.", err=True)


@sites.command("list")
@json_option
def list_sites(as_json: bool) -> None:
    """Every site: state, origins, client keys."""
    rows = store.all_sites(db.session)
    counts = store.key_counts(db.session)
    found = [_view(row, counts.get(row.id, 0)) for row in rows]
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    echo_table(("DOMAIN", "NAME", "STATE", "ANONYMOUS", "KEYS", "ORIGINS"),
               [(s["domain"], s["name"], "enabled" if s["enabled"] else "disabled",
                 "yes" if s["allow_anonymous"] else "no", str(s["client_keys"]),
                 ", ".join(s["origins"] + [f"{o} (environment)" for o in s.get("environment_origins", ())]) or "-")
                for s in found])


def _view(row, client_keys: int) -> dict[str, Any]:
    """What listings show of a site: its settings, its key count, when it changed, and for the local site the
    origins AICHAT_ALLOWED_ORIGINS adds."""
    view = {**store.site_dict(row), "client_keys": client_keys,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None}
    if row.domain == LOCAL_DOMAIN:
        view["environment_origins"] = sorted(set(_reserved()) - set(view["origins"]))
    return view


@sites.command("show")
@click.argument("domain")
@json_option
@_refusals
def show(domain: str, as_json: bool) -> None:
    """One site with its preset and limits."""
    row = store.get(db.session, domain)
    site = _view(row, store.key_counts(db.session).get(row.id, 0))
    if as_json:
        click.echo(json.dumps(site, indent=2, ensure_ascii=False))
        return
    origins = site["origins"] + [f"{o} (from AICHAT_ALLOWED_ORIGINS)" for o in site.get("environment_origins", ())]
    for label, value in (("domain", site["domain"]), ("name", site["name"]),
                         ("state", "enabled" if site["enabled"] else "disabled"),
                         ("publishable key", site["publishable_key"]), ("origins", ", ".join(origins) or "-"),
                         ("anonymous", "allowed" if site["allow_anonymous"] else "not allowed"),
                         ("client keys", site["client_keys"])):
        click.echo(f"{label + ':':17}{value}")
    click.echo("\nconversations:")
    previous = site["identity_secret_previous_until"]
    for field, value in (("merge_anonymous", _plain(site["merge_anonymous"])),
                         ("on_disconnect", site["on_disconnect"]),
                         ("retention_days", site["retention_days"] or "keep"),
                         ("identity secret", ("set" if site["identity_secret"] else "none")
                          + (f" (the previous one verifies until {previous})" if previous else ""))):
        click.echo(f"  {field + ':':19}{value}")
    click.echo("\npreset:")
    for field, value in site["preset"].items():
        shown = value if field != "system_prompt" or value is None else _shorten(value)
        click.echo(f"  {field + ':':19}{_plain(shown)}")
    click.echo("\nlimits:")
    for field, value in site["limits"].items():
        click.echo(f"  {field + ':':19}{_plain(value)}")


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _shorten(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else f"{line[:width - 1]}… ({len(text)} characters)"


@sites.command("update")
@click.argument("domain")
@click.option("--domain", "new_domain", default=None, metavar="NEW", help="Rename the site (its history follows).")
@click.option("--name", default=None)
@click.option("--add-origin", "--origin", "add_origin", multiple=True, metavar="URL")
@click.option("--remove-origin", multiple=True, metavar="URL")
@click.option("--anonymous/--no-anonymous", "allow_anonymous", default=None)
@click.option("--rotate-publishable-key", is_flag=True,
              help="Issue a new pk_… (printed on standard output); pages with the old one must be updated.")
@click.option("--merge-anonymous/--no-merge-anonymous", default=None,
              help="On sign-in, may a browser's anonymous conversations move to its user (default: yes)?")
@click.option("--on-disconnect", type=click.Choice(ON_DISCONNECT_MODES), default=None,
              help="A client gone mid-answer: stop the upstream call (the default), or finish and store the answer.")
@click.option("--retention-days", default=None, metavar="N|none",
              help="Delete conversations not updated for N days (default 90); none keeps them.")
@ip_options
@preset_options
@limit_options
@_refusals
def update(domain: str, new_domain: str | None, name: str | None, add_origin: tuple[str, ...],
           remove_origin: tuple[str, ...], allow_anonymous: bool | None, rotate_publishable_key: bool,
           merge_anonymous: bool | None, on_disconnect: str | None, retention_days: str | None, **values) -> None:
    """Change a site: rename it, add or remove origins, change preset fields, limits (`none` clears one) and the
    settings of its end users' conversations."""
    conversations = {setting: value for setting, value in (("merge_anonymous", merge_anonymous),
                                                           ("on_disconnect", on_disconnect)) if value is not None}
    if retention_days is not None:
        conversations["retention_days"] = None if retention_days.strip() == CLEAR else retention_days.strip()
    change = _done("sites.update", store.update_site(
        db.session, domain, new_domain=new_domain, name=name, add_origins=add_origin, remove_origins=remove_origin,
        allow_anonymous=allow_anonymous, preset=_preset_changes(values), limits=_limit_changes(values),
        rotate_publishable_key=rotate_publishable_key, reserved_origins=_reserved(), ip_lists=_ip_changes(values),
        conversations=conversations))
    before, after = change
    if rotate_publishable_key:
        click.echo(after["publishable_key"])
    changed = sorted(field for field in after if after[field] != before[field])
    click.echo(f"Updated site {after['domain']!r} ({', '.join(changed) or 'no change'}); {_takes_effect()}.",
               err=True)
    if not after["origins"] and after["domain"] != LOCAL_DOMAIN:
        click.echo(f"Site {after['domain']!r} has no origins left: only its client keys can call.", err=True)


@sites.command("disable")
@click.argument("domain")
@_refusals
def disable(domain: str) -> None:
    """Stop serving a site: its origins get 403 (preflight included) and its client keys 401; settings stay."""
    _set_enabled(domain, False)


@sites.command("enable")
@click.argument("domain")
@_refusals
def enable(domain: str) -> None:
    """Serve a disabled site again."""
    _set_enabled(domain, True)


def _set_enabled(domain: str, enabled: bool) -> None:
    action = "sites.enable" if enabled else "sites.disable"
    before, after = _done(action, store.set_enabled(db.session, domain, enabled))
    state = "enabled" if enabled else "disabled"
    if before["enabled"] == enabled:
        click.echo(f"Site {after['domain']!r} was already {state}.", err=True)
    else:
        click.echo(f"{state.capitalize()} site {after['domain']!r}; {_takes_effect()}.", err=True)


@sites.command("remove")
@click.argument("domain")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_refusals
def remove(domain: str, yes: bool) -> None:
    """Delete a site, its client keys (they stop working) and its end users' conversations; its usage history
    stays. The local site stays."""
    row = store.get(db.session, domain)
    if not yes:
        count = len(row.keys)
        click.confirm(f"Remove site {row.domain!r} and delete its {count} client key{'s' if count != 1 else ''} "
                      f"and its end users' conversations? "
                      f"(`flask sites disable` keeps them)", abort=True, err=True)
    before, _ = _done("sites.remove", store.remove_site(db.session, domain))
    count = before["client_keys"]
    click.echo(f"Removed site {before['domain']!r} and deleted its {count} client key{'s' if count != 1 else ''}, "
               f"which stop working with it; its usage history stays; {_takes_effect()}.", err=True)


@sites.command("identity-secret")
@click.argument("domain")
@click.option("--rotate", is_flag=True, help="Make a new secret; the old one keeps verifying for --grace.")
@click.option("--grace", default=None, metavar="24h",
              help="With --rotate: how long the old secret keeps verifying tokens (e.g. 30m, 24h, 2d; 0: not at all).")
@_refusals
@_keyring_refusals
def identity_secret(domain: str, rotate: bool, grace: str | None) -> None:
    """Print the secret the site's backend signs its users' tokens with (alone on standard output), making it
    when the site has none; --rotate replaces it."""
    if grace is not None and not rotate:
        raise SpecError("--grace goes with --rotate: it is how long the old secret keeps working")
    keyring = load_keyring(current_app.config, current_app.instance_path)
    if rotate:
        secret, change = identity.rotate(db.session, keyring, domain, identity.parse_grace(grace or "24h"))
    else:
        secret, change = identity.current_or_new(db.session, keyring, domain)
    if change is not None:
        _done("sites.identity_secret.rotate" if rotate else "sites.identity_secret.create", change)
    click.echo(secret)
    if change is None:
        return
    until = change.after["identity_secret_previous_until"]
    kept = f"the previous one verifies tokens until {until}" if until else "no previous secret verifies any more"
    note = (" (encrypted with the key generated in instance/: set AICHAT_ENCRYPTION_KEY in production)"
            if keyring.generated else "")
    click.echo(f"{'Rotated' if rotate else 'Created'} the identity secret of site {change.after['domain']!r} "
               f"({kept}){note}; {_takes_effect()}. Keep it on the site's backend only.", err=True)
