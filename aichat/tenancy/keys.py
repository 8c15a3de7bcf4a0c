"""Client keys in the database: created, found, revoked and rotated, one checked transaction at a time.

Plain Python over a session. The key itself exists only in what `create` and `rotate` return, to be
shown once; rows hold its SHA-256 and its visible prefix. Every change bumps the tenancy version in
its transaction (every process reloads within AICHAT_CONFIG_POLL_INTERVAL) and returns (before,
after) as plain dicts with no secret in them, for the audit log.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, object_session

from aichat.models import ClientKey, Site

from .directory import key_digest
from .specs import LIMIT_NAMES, SpecError, check_domain, check_ip_list, check_limits, check_models
from .store import KEY_PREFIX, _VISIBLE, aware, bump, dumps, new_client_key

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME_MAX = 64
_SHORTEST_PREFIX = len(KEY_PREFIX) + 4  # fewer characters would match keys by chance


def now() -> datetime:
    return datetime.now(timezone.utc)


def check_duration(text: str, what: str, zero: bool = False) -> timedelta:
    """'30d', '12h', '90m', '45s', '2w' as a timedelta; zero only where it means something (`zero`)."""
    clean = (text or "").strip().lower()
    if zero and clean == "0":
        return timedelta(0)
    match = _DURATION.match(clean)
    if not match or (int(match.group(1)) == 0 and not zero):
        raise SpecError(f"{what} {text!r} is not a duration such as 30d, 12h, 90m or 2w"
                        + (" (0 for none)" if zero else ""))
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def check_key_name(name: str) -> str:
    clean = (name or "").strip()
    if len(clean) > _NAME_MAX or not clean.isprintable():
        raise SpecError(f"key name {name!r} must be at most {_NAME_MAX} printable characters")
    return clean


# --- state, as listings show it ---------------------------------------------------------------


def state(row: ClientKey, at: datetime | None = None) -> str:
    """active, expires …, expired, revoked, or rotated (grace until …)."""
    at = at or now()
    expires = aware(row.expires_at)
    if row.revoked_at is not None:
        return "revoked"
    if expires is not None and expires <= at:
        return "expired"
    if row.replaced_by_id is not None:
        return f"rotated (grace until {_moment(expires)})"
    return f"expires {_moment(expires)}" if expires is not None else "active"


def _moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def as_dict(row: ClientKey, at: datetime | None = None) -> dict[str, Any]:
    """A key as listings, `--json` and the audit log show it: the prefix, never the key or its hash."""
    def iso(moment):
        moment = aware(moment)
        return moment.isoformat().replace("+00:00", "Z") if moment else None

    return {"prefix": row.prefix, "name": row.name, "site": row.site.domain, "state": state(row, at),
            "models": row.json("models") or [], "limits": row.json("limits") or {},
            "allow_ips": row.json("ip_allow") or [], "deny_ips": row.json("ip_deny") or [],
            "expires_at": iso(row.expires_at), "revoked_at": iso(row.revoked_at),
            "replaced_by": replacement(row), "created_at": iso(row.created_at),
            "last_used_at": iso(row.last_used_at)}


def replacement(row: ClientKey) -> str | None:
    """The prefix of the key that replaced `row` when it was rotated."""
    if row.replaced_by_id is None:
        return None
    new = object_session(row).get(ClientKey, row.replaced_by_id)
    return new.prefix if new is not None else None


# --- finding ------------------------------------------------------------------------------------


def find(session: Session, key_or_prefix: str) -> ClientKey:
    """The key that is `key_or_prefix` (the whole key) or starts with it (its visible prefix, or a start of
    it); SpecError naming the prefix when none or several match. The whole key is never repeated."""
    given = (key_or_prefix or "").strip()
    if len(given) > _VISIBLE:  # a whole key: found by its hash
        row = session.execute(select(ClientKey).where(ClientKey.key_hash == key_digest(given).hex())).scalar()
        if row is None:
            raise SpecError(f"no client key {given[:_VISIBLE]}… (the key given is not one of this gateway's)")
        return row
    if not given.startswith(KEY_PREFIX) or len(given) < _SHORTEST_PREFIX or not given.isprintable():
        # Not echoed unless it is one of ours: it might be another secret pasted by mistake.
        shown = repr(given) if given.startswith(KEY_PREFIX) else "the value given"
        raise SpecError(f"{shown} is not a client key prefix: give the key's visible start, such as "
                        f"{KEY_PREFIX}ab12cd34 (see flask keys list)")
    rows = session.execute(select(ClientKey).where(ClientKey.prefix.startswith(given, autoescape=True))
                           .order_by(ClientKey.id).limit(6)).scalars().all()
    if not rows:
        raise SpecError(f"no client key starts with {given} (see flask keys list)")
    if len(rows) > 1:
        raise SpecError(f"{given} is ambiguous: it starts {', '.join(r.prefix for r in rows[:5])}"
                        f"{' …' if len(rows) > 5 else ''}; give more of the prefix")
    return rows[0]


def site_by_domain(session: Session, domain: str) -> Site:
    clean = check_domain(domain)
    site = session.execute(select(Site).where(Site.domain == clean)).scalar()
    if site is None:
        raise SpecError(f"no site {clean}; create it with: flask sites create {clean} --origin URL")
    return site


def listed(session: Session, domain: str | None = None) -> list[ClientKey]:
    query = select(ClientKey).join(Site).options(contains_eager(ClientKey.site)).order_by(Site.domain, ClientKey.id)
    if domain is not None:
        query = query.where(ClientKey.site_id == site_by_domain(session, domain).id)
    return list(session.execute(query).scalars())


# --- changes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A new key: `key` is shown once and never stored; before/after are the audit's view of the change."""

    key: str
    row: ClientKey
    before: dict[str, Any] | None
    after: dict[str, Any]


def create(session: Session, domain: str, *, name: str = "", expires_in: timedelta | None = None,
           models: list[str] | tuple[str, ...] = (), limits: dict[str, Any] | None = None,
           allow_ips: list[str] | tuple[str, ...] = (), deny_ips: list[str] | tuple[str, ...] = ()) -> Issued:
    """A new key of site `domain`, committed."""
    site = site_by_domain(session, domain)
    checked = check_limits({k: v for k, v in (limits or {}).items() if v is not None})
    row = _new_row(site, check_key_name(name), check_models(models), checked.as_dict(),
                   now() + expires_in if expires_in else None)
    row.ip_allow = dumps(check_ip_list(allow_ips, "--allow-ip"))
    row.ip_deny = dumps(check_ip_list(deny_ips, "--deny-ip"))
    key = _issue(row)
    session.add(row)
    bump(session)
    session.commit()
    return Issued(key, row, None, as_dict(row))


def _new_row(site: Site, name: str, models, limits: dict[str, Any], expires_at: datetime | None) -> ClientKey:
    kept = {name_: value for name_, value in limits.items() if value is not None and name_ in LIMIT_NAMES}
    if kept:
        kept["currency"] = limits.get("currency", "USD")
    return ClientKey(site=site, name=name, models=dumps(list(models)), limits=dumps(kept), expires_at=expires_at,
                     ip_allow="[]", ip_deny="[]", created_at=now())


def _issue(row: ClientKey) -> str:
    key, prefix, digest = new_client_key()
    row.prefix, row.key_hash = prefix, digest
    return key


def revoke(session: Session, row: ClientKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """Revoke a key now, committed; revoking a revoked key changes nothing (and says so by before == after)."""
    before = as_dict(row)
    if row.revoked_at is None:
        row.revoked_at = now()
        bump(session)
        session.commit()
    return before, as_dict(row)


def rotate(session: Session, row: ClientKey, grace: timedelta,
           expires_in: timedelta | None = None) -> tuple[Issued, dict[str, Any]]:
    """A new key for `row`'s scope (site, name, models, limits, network rules); `row` keeps working for
    `grace` (not past its own expiry) and then stops. The new key lasts as long as the old one was meant to,
    from now, unless `expires_in` says otherwise. Returns the new key and the old key's state after."""
    at = now()
    if row.revoked_at is not None:
        raise SpecError(f"client key {row.prefix} is revoked; create a new one with flask keys create")
    if row.replaced_by_id is not None:
        raise SpecError(f"client key {row.prefix} was already rotated, to {replacement(row)}; rotate that one")
    old_before = as_dict(row, at)
    expires = aware(row.expires_at)
    if expires_in is None and expires is not None:
        expires_in = max(expires - aware(row.created_at), timedelta(seconds=1))
    new = _new_row(row.site, row.name, row.json("models") or [], row.json("limits") or {},
                   at + expires_in if expires_in else None)
    new.ip_allow, new.ip_deny = row.ip_allow, row.ip_deny
    key = _issue(new)
    session.add(new)
    session.flush()  # the new row's id, for replaced_by_id
    row.replaced_by_id = new.id
    row.expires_at = min(at + grace, expires) if expires is not None else at + grace
    bump(session)
    session.commit()
    return Issued(key, new, old_before, as_dict(new, at)), as_dict(row, at)
