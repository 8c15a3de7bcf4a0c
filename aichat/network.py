"""The client address, and who may reach the admin pages, the monitoring API and /metrics by it.

Behind AICHAT_TRUSTED_PROXIES proxies, werkzeug's ProxyFix takes the client address from that
many X-Forwarded-For entries counted from the right (the ones our own proxies appended), so an
entry a client wrote itself is never believed; with 0 the socket's peer is the client. Every
user of `request.remote_addr` (rate limits, the access log, the rules here) sees the same address.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from werkzeug.exceptions import Forbidden
from werkzeug.middleware.proxy_fix import ProxyFix

from .api.errors import ApiError
from .netrules import STORAGE_MODES, NetRule

LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Surface:
    """Paths under one address rule, and how a refusal reads there."""

    name: str  # the settings' prefix, e.g. AICHAT_ADMIN
    prefix: str  # a path, and everything under it
    rule: NetRule
    page: bool  # refused with an HTML page rather than JSON

    def covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")


def init_network(app: Flask) -> None:
    """ProxyFix for the trusted proxies, and the surfaces' address rules checked before anything else."""
    hops = app.config["AICHAT_TRUSTED_PROXIES"]
    if not isinstance(hops, int) or isinstance(hops, bool) or hops < 0:
        raise ValueError(f"AICHAT_TRUSTED_PROXIES must be a whole number of proxies (0 or more), got {hops!r}")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if app.config["AICHAT_CLIENT_IP_STORAGE"] not in STORAGE_MODES:
        raise ValueError(f"AICHAT_CLIENT_IP_STORAGE must be one of {', '.join(STORAGE_MODES)}, "
                         f"got {app.config['AICHAT_CLIENT_IP_STORAGE']!r}")
    surfaces = [surface for surface in build_surfaces(app.config) if not surface.rule.open]
    if not surfaces:
        return

    prefixes = tuple(surface.prefix for surface in surfaces)

    def check():
        path = request.path
        if not path.startswith(prefixes):  # the chat surfaces: one string comparison
            return
        for surface in surfaces:
            if surface.covers(path) and not surface.rule.admits(request.remote_addr):
                refuse(surface)

    # Before the CSRF check, the limits and the views (only the request id comes earlier): a refused address
    # learns nothing else, not even whether a page exists.
    app.before_request_funcs.setdefault(None, []).insert(0, check)


def build_surfaces(config) -> list[Surface]:
    """The three surfaces with their rules from settings; a bad entry raises an error naming its setting."""
    metrics_allow = config["AICHAT_METRICS_ALLOW_IPS"]
    if metrics_allow is None:  # unset: with a token anyone may try it; without, only this host
        metrics_allow = [] if config["AICHAT_METRICS_TOKEN"] else list(LOOPBACK)
    lists = {"AICHAT_ADMIN": (config["AICHAT_ADMIN_ALLOW_IPS"], "/admin", True),
             "AICHAT_MONITORING": (config["AICHAT_MONITORING_ALLOW_IPS"], "/api/v1/ai-monitoring", False),
             "AICHAT_METRICS": (metrics_allow, "/metrics", False)}
    return [Surface(name, prefix, NetRule.parse(allow, config[f"{name}_DENY_IPS"],
                                                names=(f"{name}_ALLOW_IPS", f"{name}_DENY_IPS")), page)
            for name, (allow, prefix, page) in lists.items()]


def refuse(surface: Surface):
    """403 in the surface's shape: an HTML page for the console, the JSON envelope for the APIs."""
    message = (f"this client address may not reach {surface.prefix} "
               f"({surface.name}_ALLOW_IPS / {surface.name}_DENY_IPS)")
    if surface.page:
        raise Forbidden(description=message[0].upper() + message[1:] + ".")
    raise ApiError(403, "address_not_allowed", message)
