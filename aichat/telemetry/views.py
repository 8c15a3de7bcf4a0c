"""`/metrics`: the Prometheus scrape, for a bearer token or an allowed address."""
from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, current_app, request

from aichat.api.errors import ApiError
from aichat.extensions import csrf, limiter
from aichat.runtime import runtime_of

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)  # a Prometheus scrape, no forms

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@bp.get("/metrics")
@limiter.exempt
def scrape():
    """Every aichat_* metric in the Prometheus text format."""
    allowed(current_app.config["AICHAT_METRICS_TOKEN"], runtime_of().metrics_allow)
    from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

    # Every name is a classic one, so the format every Prometheus version reads.
    return Response(runtime_of().metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def allowed(token: str, networks: tuple[Network, ...]) -> None:
    """The right bearer token, or an address in AICHAT_METRICS_ALLOW; otherwise 401 (a wrong token) or 403."""
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    bearer = sent.strip() if scheme.lower() == "bearer" else ""
    if token and bearer and hmac.compare_digest(bearer.encode(), token.encode()):
        return
    if address_allowed(request.remote_addr, networks):
        return
    if token and bearer:
        raise ApiError(401, "invalid_token", "the metrics token is not valid",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics", error="invalid_token"'})
    raise ApiError(403, "forbidden", "/metrics needs 'Authorization: Bearer <AICHAT_METRICS_TOKEN>' "
                                     "or a client address in AICHAT_METRICS_ALLOW")


def address_allowed(address: str | None, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:  # no address (a unix socket) or not an IP
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 from a dual-stack socket is 10.0.0.1
    return any(ip in network for network in networks)


def parse_allow(entries: list[str]) -> tuple[Network, ...]:
    """AICHAT_METRICS_ALLOW as networks (an address is a network of one); a bad entry stops the start."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"AICHAT_METRICS_ALLOW: {entry!r} is not an IP address or network "
                             "(e.g. 10.0.0.5 or 10.0.0.0/8)") from None
    return tuple(networks)
