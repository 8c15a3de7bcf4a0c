"""What the chat views share: the gateway, limits, the lifecycle, and the call context of this request."""
from __future__ import annotations

from flask import g

from aichat.gateway import CallContext, Gateway
from aichat.lifecycle import Lifecycle
from aichat.tenancy import SiteSpec

from .callers import caller_label
from .errors import ApiError
from .validation import Limits
from aichat.runtime import runtime_of


def gateway() -> Gateway:
    return runtime_of().gateway


def lifecycle() -> Lifecycle:
    return runtime_of().lifecycle


def limits() -> Limits:
    return runtime_of().limits


def call_context(endpoint: str, *, suggestions: bool = False, site: str | None = None) -> CallContext:
    """The context of this call, billed to the caller's site; `site` is a key holder's explicit site_domain,
    which must be its key's site."""
    spec = caller_site()
    if site is not None and site != spec.domain:
        raise ApiError(400, "site_domain_mismatch",
                       f"this client key belongs to site {spec.domain}; to bill site {site}, use one of its keys "
                       f"(flask keys create --site {site})", param="site_domain")
    return CallContext(request_id=g.request_id, endpoint=endpoint, site_domain=spec.domain, site_id=spec.id,
                       caller=caller_label(), suggestions=suggestions)


def caller_site() -> SiteSpec:
    """The site this request's caller belongs to (until every caller names one, the local site)."""
    caller = g.get("caller")
    site = getattr(caller, "site", None)
    return site if site is not None else runtime_of().directory.local_site


def note_served(provider: str, model: str) -> None:
    """Who answered this request, for its log line and metrics (`g.served`)."""
    g.served = (provider, model)
