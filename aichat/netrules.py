"""Client addresses: allow and deny lists of CIDR networks (IPv4 and IPv6), and the form an address is stored in.

A rule is parsed and validated once (at start for settings, when saved for a site's or a key's
lists) and then checked per request: deny wins over allow, an empty allow list admits everyone.
An IPv4 address arriving as IPv4-mapped IPv6 (`::ffff:10.0.0.1`, from a dual-stack socket) is
matched as the IPv4 address it is, and so is a mapped network in a list.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

STORAGE_MODES = ("full", "truncated", "none")
# What survives truncation: the network a household or small office shares, never one machine.
TRUNCATE_PREFIX = {4: 24, 6: 48}
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class NetRuleError(ValueError):
    """An entry that is not an IP address or network; the message names the list and the entry."""


def parse_address(text: str | None) -> Address | None:
    """The client address as an IP (an IPv4-mapped IPv6 address as IPv4); None when it is none (a unix socket)."""
    try:
        ip = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_network(entry: str, where: str = "address list") -> Network:
    """One entry: an address (a network of one) or CIDR network, host bits allowed; NetRuleError otherwise."""
    text = entry.strip() if isinstance(entry, str) else ""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NetRuleError(f"{where}: {entry!r} is not an IP address or network "
                           "(e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)") from None
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        # ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are matched in their IPv4 form.
        mapped = network.network_address.ipv4_mapped
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_networks(entries: Iterable[str], where: str = "address list") -> tuple[Network, ...]:
    """Every entry as a network, in order, duplicates dropped; the first bad entry raises NetRuleError."""
    networks: list[Network] = []
    for entry in entries:
        network = parse_network(entry, where)
        if network not in networks:
            networks.append(network)
    return tuple(networks)


def validate(entries: Iterable[str], where: str = "address list") -> list[str]:
    """The entries in canonical form (`10.0.0.0/8`, `2001:db8::/32`, `203.0.113.7/32`), for a command to store."""
    return [str(network) for network in parse_networks(entries, where)]


Span = tuple[int, int, int]  # (IP version, first address, last address) as integers: compared without objects


def _spans(networks: tuple[Network, ...]) -> tuple[Span, ...]:
    return tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in networks)


@lru_cache(maxsize=4096)
def _number(text: str | None) -> tuple[int, int] | None:
    """(version, integer) of a client address; cached, since the same clients come back (and several rules may
    judge one request)."""
    ip = parse_address(text)
    return None if ip is None else (ip.version, int(ip))


def _within(number: tuple[int, int], spans: tuple[Span, ...]) -> bool:
    version, value = number
    for v, first, last in spans:  # a plain loop: any() over a generator costs several times more
        if v == version and first <= value <= last:
            return True
    return False


@dataclass(frozen=True, slots=True)
class NetRule:
    """Who may reach something by client address: not in `deny`, and in `allow` unless `allow` is empty."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()
    _allow: tuple[Span, ...] = field(init=False, repr=False, compare=False)
    _deny: tuple[Span, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_allow", _spans(self.allow))
        object.__setattr__(self, "_deny", _spans(self.deny))

    @classmethod
    def parse(cls, allow: Iterable[str] = (), deny: Iterable[str] = (),
              names: tuple[str, str] = ("allow list", "deny list")) -> NetRule:
        """From lists of entries; `names` name the two lists in errors (a setting, a command's option …)."""
        return cls(parse_networks(allow, names[0]), parse_networks(deny, names[1]))

    @property
    def open(self) -> bool:
        """Admits every address, even none: both lists are empty."""
        return not self.allow and not self.deny

    def admits(self, address: str | None) -> bool:
        """Is this client address let in? Without an IP address (a unix socket) only an open rule lets it in."""
        if self.open:
            return True
        number = _number(address)
        if number is None:
            return False
        if _within(number, self._deny):
            return False
        return not self._allow or _within(number, self._allow)


def storable_address(address: str | None, mode: str) -> str | None:
    """The client address as AICHAT_CLIENT_IP_STORAGE keeps it: whole, its /24 or /48 network, or nothing.

    A truncated address keeps its prefix length (`203.0.113.0/24`), so it reads as a network and can be
    pasted into a deny list as it is."""
    if mode == "none" or not address:
        return None
    if mode == "full":
        return address
    ip = parse_address(address)
    if ip is None:
        return None
    prefix = TRUNCATE_PREFIX[ip.version]
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
