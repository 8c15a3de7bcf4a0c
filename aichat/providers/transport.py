"""The connection pool under the SDKs' httpx clients: one upstream's connections split over several small pools."""
from __future__ import annotations

import math
import urllib.request
from urllib.parse import urlsplit

import httpx2

# httpcore walks every connection of a pool each time a request starts and each time a response
# closes, so with thousands of streams in flight one shared pool costs each stream time that grows
# with all the others (7.7 % of a worker's CPU during a burst of 1,000 streams). Sixteen pools keep
# each walk short; picking the least busy keeps a quiet gateway on the first pool's warm connections.
SHARDS = 16


class ShardedTransport(httpx2.BaseTransport):
    """Several httpx transports to one upstream; each request goes to the one with the fewest in flight."""

    def __init__(self, shards: list[httpx2.BaseTransport]):
        self.shards = shards
        self.in_flight = [0] * len(shards)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        counts = self.in_flight
        index = counts.index(min(counts))
        counts[index] += 1
        try:
            response = self.shards[index].handle_request(request)
        except BaseException:
            counts[index] -= 1
            raise
        response.stream = _Released(response.stream, self, index)
        return response

    def release(self, index: int) -> None:
        self.in_flight[index] -= 1

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


class _Released(httpx2.SyncByteStream):
    """A response body that gives its pool's slot back once, when it is closed."""

    __slots__ = ("_stream", "_owner", "_index")

    def __init__(self, stream, owner: ShardedTransport, index: int):
        self._stream, self._owner, self._index = stream, owner, index

    def __iter__(self):
        return iter(self._stream)

    def close(self) -> None:
        if self._owner is not None:
            owner, self._owner = self._owner, None
            owner.release(self._index)
        self._stream.close()


def sharded(base_url: str, pool_size: int, keepalive: int, transport=httpx2.HTTPTransport, **kwargs) -> ShardedTransport:
    """`pool_size` connections and `keepalive` idle ones to `base_url`, spread over SHARDS pools of `transport`."""
    count = max(1, min(SHARDS, pool_size))
    limits = httpx2.Limits(max_connections=math.ceil(pool_size / count),
                           max_keepalive_connections=math.ceil(keepalive / count))
    proxy = environment_proxy(base_url)
    # One TLS context for all: each loads the system's CA certificates, about 1.5 MB apiece.
    tls = httpx2.create_ssl_context()
    return ShardedTransport([transport(limits=limits, proxy=proxy, verify=tls, **kwargs) for _ in range(count)])


def environment_proxy(url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY / ALL_PROXY / NO_PROXY give for `url`, as httpx's own pool would use."""
    # A transport given to httpx turns off its reading of these variables, so they are read here.
    proxies = urllib.request.getproxies_environment()
    if not proxies:
        return None
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")
