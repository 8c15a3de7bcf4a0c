"""Sites in the database, changed one checked transaction at a time: plain Python over a session.

Each change bumps the `tenancy` configuration version in its own transaction (store.change), so every
process serves the new sites after its next poll. Each returns the site before and after as plain dicts
(`site_dict`), the record an audit entry keeps: its publishable key is public, and of its identity secret it
says only whether there is one.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aichat.chat.conversations import delete_where
from aichat.models import ClientKey, Conversation, Site

from .directory import LOCAL_DOMAIN
from .specs import (Limits, Preset, SpecError, check_domain, check_ip_list, check_limits, check_on_disconnect,
                    check_origin, check_preset, check_retention_days, check_site_name, updated_limits,
                    updated_preset)
from .store import aware, change, dumps, new_publishable_key, site_spec

_DEFAULT_PRESET = Preset().as_dict()
_DEFAULT_LIMITS = Limits().as_dict()


class Change(NamedTuple):
    """A site as it was and as it is after one change; None where it did not or no longer exists."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- reading -----------------------------------------------------------------


def all_sites(session: Session) -> list[Site]:
    return list(session.execute(select(Site).order_by(Site.domain)).scalars())


def find(session: Session, domain: str) -> Site | None:
    return session.execute(select(Site).where(Site.domain == domain.strip().lower())).scalar_one_or_none()


def get(session: Session, domain: str) -> Site:
    """The site called `domain`, or a SpecError saying there is none."""
    row = find(session, domain)
    if row is None:
        raise SpecError(f"no site {domain!r} (see `flask sites list`)")
    return row


def key_counts(session: Session) -> dict[int, int]:
    """How many client keys each site has (revoked ones too), by site id."""
    query = select(ClientKey.site_id, func.count(ClientKey.id)).group_by(ClientKey.site_id)
    return {site_id: count for site_id, count in session.execute(query)}


def site_dict(row: Site) -> dict[str, Any]:
    """Every setting of a site, as `show --json` prints it and an audit entry records it."""
    spec = site_spec(row)
    return {"domain": spec.domain, "name": spec.name, "publishable_key": spec.publishable_key,
            "origins": sorted(spec.origins), "enabled": spec.enabled, "allow_anonymous": spec.allow_anonymous,
            "preset": spec.preset.as_dict(), "limits": spec.limits.as_dict(),
            "ip_allow": [str(network) for network in spec.ip_rules.allow],
            "ip_deny": [str(network) for network in spec.ip_rules.deny],
            "merge_anonymous": spec.merge_anonymous, "on_disconnect": spec.on_disconnect,
            "retention_days": spec.retention_days, "identity_secret": bool(row.identity_secret),
            "identity_secret_previous_until": (aware(row.identity_secret_previous_until).isoformat()
                                               if row.identity_secret_previous else None)}


# --- changing ----------------------------------------------------------------


def create_site(session: Session, domain: str, origins: Iterable[str], *, name: str | None = None,
                allow_anonymous: bool = True, preset: dict[str, Any] | None = None,
                limits: dict[str, Any] | None = None, reserved_origins: Collection[str] = (),
                ip_lists: dict[str, list[str]] | None = None) -> Change:
    """A new site, enabled, with a new publishable key; `reserved_origins` are the local site's from the
    environment (AICHAT_ALLOWED_ORIGINS), which no other site may list; `ip_lists` its address rules."""
    domain = check_domain(domain)
    name = check_site_name(name if name is not None else domain)
    clean = _origins(origins)
    checked_preset, checked_limits = check_preset(preset or {}), check_limits(limits or {})
    taken = f"a site {domain!r} already exists"
    with change(session, taken):
        if find(session, domain) is not None:
            raise SpecError(taken)
        _check_origins_free(session, clean, domain, reserved_origins)
        row = Site(domain=domain, name=name, publishable_key=new_publishable_key(), origins=dumps(sorted(clean)),
                   enabled=True, allow_anonymous=allow_anonymous, preset=_stored(checked_preset.as_dict(),
                                                                                  _DEFAULT_PRESET),
                   limits=_stored(checked_limits.as_dict(), _DEFAULT_LIMITS), ip_allow="[]", ip_deny="[]")
        _set_ip_lists(row, ip_lists)
        session.add(row)
        session.flush()
        after = site_dict(row)
    return Change(None, after)


def update_site(session: Session, domain: str, *, new_domain: str | None = None, name: str | None = None,
                add_origins: Iterable[str] = (), remove_origins: Iterable[str] = (),
                allow_anonymous: bool | None = None, preset: dict[str, Any] | None = None,
                limits: dict[str, Any] | None = None, rotate_publishable_key: bool = False,
                reserved_origins: Collection[str] = (), ip_lists: dict[str, list[str]] | None = None,
                conversations: dict[str, Any] | None = None) -> Change:
    """Change what is given: `preset` and `limits` are the fields to change (None clears one), `ip_lists` the
    address lists to replace (`ip_allow`, `ip_deny`; an empty list clears one), `conversations` the settings of
    end users' conversations to change (CONVERSATION_SETTINGS); the rest stays."""
    added, removed = _origins(add_origins), _origins(remove_origins)
    settings = _conversation_settings(conversations or {})
    if not (new_domain or name is not None or added or removed or allow_anonymous is not None or preset
            or limits or rotate_publishable_key or ip_lists or settings):
        raise SpecError("nothing to change: give a new domain or name, origins to add or remove, preset fields, "
                        "limits, conversation settings, --anonymous/--no-anonymous or --rotate-publishable-key")
    if added & removed:
        raise SpecError(f"origin {sorted(added & removed)[0]!r} is both added and removed")
    with change(session, f"a site {new_domain!r} already exists" if new_domain else ""):
        row = get(session, domain)
        before = site_dict(row)
        if new_domain:
            _rename(session, row, check_domain(new_domain))
        if name is not None:
            row.name = check_site_name(name)
        if added or removed:
            row.origins = dumps(sorted(_changed_origins(session, row, added, removed, reserved_origins)))
        if allow_anonymous is not None:
            row.allow_anonymous = allow_anonymous
        if preset:
            row.preset = _stored(updated_preset(check_preset(row.json("preset") or {}), preset).as_dict(),
                                 _DEFAULT_PRESET)
        if limits:
            row.limits = _stored(updated_limits(check_limits(row.json("limits") or {}), limits).as_dict(),
                                 _DEFAULT_LIMITS)
        if rotate_publishable_key:
            row.publishable_key = new_publishable_key()
        _set_ip_lists(row, ip_lists)
        for column, value in settings.items():
            setattr(row, column, value)
        session.flush()
        after = site_dict(row)
    return Change(before, after)


CONVERSATION_SETTINGS = {"merge_anonymous": lambda value: _flag("merge_anonymous", value),
                         "on_disconnect": check_on_disconnect, "retention_days": check_retention_days}


def _conversation_settings(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(CONVERSATION_SETTINGS)
    if unknown:
        raise SpecError(f"unknown conversation setting {sorted(unknown)[0]!r}; they are "
                        f"{', '.join(CONVERSATION_SETTINGS)}")
    return {name: CONVERSATION_SETTINGS[name](value) for name, value in values.items()}


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{name} must be true or false, not {value!r}")
    return value


def _set_ip_lists(row: Site, ip_lists: dict[str, list[str]] | None) -> None:
    """Replace the address lists given (`ip_allow`, `ip_deny`), each checked and stored canonical."""
    for column, entries in (ip_lists or {}).items():
        option = "--allow-ip" if column == "ip_allow" else "--deny-ip"
        setattr(row, column, dumps(check_ip_list(entries, option)))


def set_enabled(session: Session, domain: str, enabled: bool) -> Change:
    """Serve a site's browsers and keys again, or stop serving them; before == after when nothing changed."""
    with change(session):
        row = get(session, domain)
        before = site_dict(row)
        row.enabled = enabled
        session.flush()
        after = site_dict(row)
    return Change(before, after)


def remove_site(session: Session, domain: str) -> Change:
    """Delete a site, its client keys (they stop working at each process's next poll) and its end users'
    conversations; the local site stays.
    The `before` record says how many keys went with it."""
    with change(session):
        row = get(session, domain)
        if row.domain == LOCAL_DOMAIN:
            raise SpecError(f"the local site {LOCAL_DOMAIN!r} cannot be removed: the demo page and "
                            f"AICHAT_ALLOWED_ORIGINS belong to it; disable it instead")
        before = {**site_dict(row), "client_keys": len(row.keys)}
        delete_where(session, Conversation.site_id == row.id)  # its end users' conversations too (as for keys)
        session.delete(row)  # its keys go with it (the ORM deletes them; SQLite may not enforce the cascade)
    return Change(before, None)


# --- checks that need the other sites ------------------------------------------


def _origins(origins: Iterable[str]) -> set[str]:
    return {check_origin(origin) for origin in origins}


def _rename(session: Session, row: Site, domain: str) -> None:
    if LOCAL_DOMAIN in (row.domain, domain) and row.domain != domain:
        raise SpecError(f"the local site is found by its domain {LOCAL_DOMAIN!r}: it cannot be renamed, and no "
                        f"other site can take that name")
    if domain != row.domain and find(session, domain) is not None:
        raise SpecError(f"a site {domain!r} already exists")
    row.domain = domain


def _changed_origins(session: Session, row: Site, added: set[str], removed: set[str],
                     reserved: Collection[str]) -> set[str]:
    current = set(row.json("origins") or ())
    missing = sorted(removed - current)
    if missing:
        listed = ", ".join(sorted(current)) or "none"
        raise SpecError(f"site {row.domain!r} has no origin {missing[0]!r} (its origins: {listed})")
    _check_origins_free(session, added - current, row.domain, reserved)
    return (current | added) - removed


def _check_origins_free(session: Session, origins: set[str], domain: str, reserved: Collection[str]) -> None:
    """Refuse an origin another site lists: a browser's Origin must name one site."""
    if domain != LOCAL_DOMAIN:
        clash = sorted(origins & {origin.rstrip("/") for origin in reserved})
        if clash:
            raise SpecError(f"origin {clash[0]!r} belongs to the local site through AICHAT_ALLOWED_ORIGINS: "
                            f"take it out of that setting first")
    for other in session.execute(select(Site).where(Site.domain != domain)).scalars():
        clash = sorted(origins & set(other.json("origins") or ()))
        if clash:
            raise SpecError(f"origin {clash[0]!r} is already used by site {other.domain!r}: an origin names "
                            f"one site (remove it there first)")


def _stored(values: dict[str, Any], defaults: dict[str, Any]) -> str:
    """A preset's or limits' JSON column: only what differs from the defaults, so it reads as the site's rules."""
    return dumps({name: value for name, value in values.items() if value != defaults[name]})
