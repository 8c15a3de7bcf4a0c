"""The sites and client keys one process serves with: built whole from specs, looked up without a query.

A process holds one Directory at a time and swaps it whole when the tenancy configuration version
moves (aichat/tenancy/live.py), like the gateway: a request takes it once and keeps it.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import replace

from .specs import ClientKeySpec, SiteSpec

log = logging.getLogger(__name__)

LOCAL_DOMAIN = "localhost"  # the site a fresh install has; AICHAT_ALLOWED_ORIGINS are its origins too


def key_digest(key: str) -> bytes:
    """Client keys are 256 random bits: a plain SHA-256 is enough to store and find them (passwords get scrypt)."""
    return hashlib.sha256(key.encode()).digest()


def legacy_label(key: str) -> str:
    """How usage rows name a key from AICHAT_API_KEYS: from its digest, so reordering the list keeps it."""
    return f"key:{hashlib.sha256(key.encode()).hexdigest()[:10]}"


class Directory:
    """Sites by id, domain, publishable key and origin; client keys by digest."""

    def __init__(self, sites: Iterable[SiteSpec], keys: Iterable[ClientKeySpec] = (), version: int | None = None):
        self.version = version  # the tenancy configuration version read with these; None: not from the database
        self.sites: dict[int | None, SiteSpec] = {}
        self.by_domain: dict[str, SiteSpec] = {}
        self.by_publishable_key: dict[str, SiteSpec] = {}
        self.by_origin: dict[str, SiteSpec] = {}
        for site in sites:
            self.sites[site.id] = self.by_domain[site.domain] = self.by_publishable_key[site.publishable_key] = site
            for origin in sorted(site.origins):
                taken = self.by_origin.setdefault(origin, site)
                if taken is not site:
                    log.warning("origin %s is listed by sites %s and %s: it is attributed to %s", origin,
                                taken.domain, site.domain, taken.domain)
        self.keys: dict[bytes, ClientKeySpec] = {}
        for key in keys:
            if key.site_id in self.sites:
                self.keys.setdefault(key.digest, key)

    @property
    def local_site(self) -> SiteSpec | None:
        """The local site: our own pages (the demo) and, in development, callers that send no Origin."""
        return self.by_domain.get(LOCAL_DOMAIN)

    def site_for_origin(self, origin: str) -> SiteSpec | None:
        return self.by_origin.get(origin.rstrip("/"))

    def key_for(self, token: str) -> ClientKeySpec | None:
        """The client key `token` is, whatever its state (revoked and expired keys too), or None."""
        return self.keys.get(key_digest(token))

    def site_of(self, key: ClientKeySpec) -> SiteSpec:
        return self.sites[key.site_id]


def with_environment(sites: list[SiteSpec], keys: list[ClientKeySpec], settings) -> tuple[list[SiteSpec],
                                                                                           list[ClientKeySpec]]:
    """The stored sites and keys plus what the environment adds: AICHAT_ALLOWED_ORIGINS as origins of the local
    site, and AICHAT_API_KEYS as keys of it (labelled as before, from their digest). Without a stored local site
    (a database not migrated yet) an unsaved one stands in, so the environment alone still serves."""
    local = next((site for site in sites if site.domain == LOCAL_DOMAIN), None)
    if local is None:
        local = SiteSpec(id=None, domain=LOCAL_DOMAIN, name="Local site", publishable_key="pk_local",
                         origins=frozenset())
        sites = [*sites, local]
    extra = frozenset(origin.rstrip("/") for origin in settings["AICHAT_ALLOWED_ORIGINS"])
    if extra:
        sites = [replace(site, origins=site.origins | extra) if site is local else site for site in sites]
    legacy = [ClientKeySpec(id=None, site_id=local.id, name="AICHAT_API_KEYS",
                            prefix=legacy_label(key), digest=key_digest(key))
              for key in settings["AICHAT_API_KEYS"]]
    return sites, [*keys, *legacy]
