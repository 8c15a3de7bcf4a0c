"""Sites and client keys in the database: read as specs, changed one checked transaction at a time.

Every change bumps the `tenancy` configuration version in the transaction that makes it, so every
process reloads its Directory within AICHAT_CONFIG_POLL_INTERVAL (aichat/tenancy/live.py).
"""
from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from aichat import config_versions as versions
from aichat.models import ClientKey, Site
from aichat.netrules import NetRule

from .directory import key_digest
from .specs import (ClientKeySpec, IdentitySecrets, SiteSpec, SpecError, check_limits, check_on_disconnect,
                    check_preset, check_retention_days)

log = logging.getLogger(__name__)

CONFIG = "tenancy"  # the config_version row that site and key changes bump
KEY_PREFIX = "aic_live_"  # every client key starts so (secret scanners can match it)
_VISIBLE = len(KEY_PREFIX) + 8  # what listings and usage rows show of a key


def config_version(session: Session) -> int:
    return versions.read(session, CONFIG)


def bump(session: Session) -> None:
    """Mark the tenancy configuration changed, in the caller's transaction."""
    versions.bump(session, CONFIG)


def change(session: Session, conflict: str = ""):
    """One tenancy change, committed with its version bump or not at all (aichat/config_versions.py)."""
    return versions.change(session, CONFIG, conflict)


def new_publishable_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def new_client_key() -> tuple[str, str, str]:
    """(the key, shown once; its visible prefix; its stored hash)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:_VISIBLE], key_digest(key).hex()


def aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite returns naive UTC
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _rule(row: Site | ClientKey) -> NetRule:
    return NetRule.parse(row.json("ip_allow") or (), row.json("ip_deny") or (), names=("ip_allow", "ip_deny"))


def site_spec(row: Site, keyring=None) -> SiteSpec:
    """The site as requests see it; its identity secrets are decrypted only with a `keyring` (the Directory's
    load), so listings and audit records never hold them."""
    return SiteSpec(id=row.id, domain=row.domain, name=row.name, publishable_key=row.publishable_key,
                    origins=frozenset(row.json("origins") or ()), enabled=row.enabled,
                    allow_anonymous=row.allow_anonymous, preset=check_preset(row.json("preset") or {}),
                    limits=check_limits(row.json("limits") or {}),
                    ip_rules=_rule(row), merge_anonymous=row.merge_anonymous,
                    on_disconnect=check_on_disconnect(row.on_disconnect),
                    retention_days=check_retention_days(row.retention_days),
                    identity=identity_secrets(row, keyring) if keyring is not None else IdentitySecrets())


def identity_secrets(row: Site, keyring) -> IdentitySecrets:
    """A site's identity secrets, decrypted; one that no key of the ring opens is left out and logged (its
    users' tokens are then refused until `flask sites identity-secret --rotate` makes a new one)."""
    opened = []
    for token in (row.identity_secret, row.identity_secret_previous):
        try:
            opened.append(keyring.decrypt(token) if token else None)
        except ValueError:  # InvalidToken, or a ring that cannot be loaded (EncryptionKeyError)
            log.error("site %s: an identity secret cannot be decrypted with the encryption keys in force; "
                      "its users' tokens are refused until it is rotated", row.domain)
            opened.append(None)
    return IdentitySecrets(opened[0], opened[1], aware(row.identity_secret_previous_until))


def key_spec(row: ClientKey) -> ClientKeySpec:
    return ClientKeySpec(id=row.id, site_id=row.site_id, name=row.name, prefix=row.prefix,
                         digest=bytes.fromhex(row.key_hash), models=tuple(row.json("models") or ()),
                         limits=check_limits(row.json("limits") or {}),
                         ip_rules=_rule(row),
                         expires_at=aware(row.expires_at), revoked=row.revoked_at is not None)


def database_tenancy(session: Session, keyring=None) -> tuple[list[SiteSpec], list[ClientKeySpec]]:
    """Every stored site and client key as specs (with `keyring`, the sites' identity secrets decrypted); a row
    that no longer checks (changed by hand) is left out and logged, so one bad row never stops the others."""
    sites, keys = [], []
    for row in session.execute(select(Site).order_by(Site.id)).scalars():
        try:
            sites.append(site_spec(row, keyring))
        except (SpecError, ValueError, TypeError) as exc:
            log.error("site %s is left out: its stored settings do not check (%s)", row.domain, exc)
    known = {site.id for site in sites}
    for row in session.execute(select(ClientKey).where(ClientKey.site_id.in_(known)).order_by(ClientKey.id)).scalars():
        try:
            keys.append(key_spec(row))
        except (SpecError, ValueError, TypeError) as exc:
            log.error("client key %s is left out: its stored settings do not check (%s)", row.prefix, exc)
    return sites, keys


def dumps(value) -> str:
    """A JSON column's text, stable for comparisons and audit diffs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
