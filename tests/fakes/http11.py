"""Hand-parsed HTTP/1.1 over asyncio streams: just enough for SDK clients, cheap per connection."""
from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Iterable, Optional
from urllib.parse import parse_qsl, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class BadRequest(Exception):
    """The bytes on the wire are not a request we can parse."""


class Request:
    """One parsed HTTP request."""

    __slots__ = ("method", "target", "path", "query", "version", "headers", "body")

    def __init__(self, method: str, target: str, version: str, headers: dict, body: bytes):
        self.method, self.target, self.version = method, target, version
        parts = urlsplit(target)
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers, self.body = headers, body

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection unless told otherwise; 1.0 only when asked."""
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    @property
    def accepts_gzip(self) -> bool:
        """Whether the client said it can read gzip bodies."""
        return "gzip" in self.headers.get("accept-encoding", "").lower()


class Protocol(asyncio.StreamReaderProtocol):
    """Stream protocol that also wakes a paused handler the moment the client goes away."""

    def __init__(self, reader: asyncio.StreamReader, callback):
        super().__init__(reader, callback)
        self.gone = False
        self.waiter: Optional[asyncio.Future] = None

    def eof_received(self):
        # HTTP clients never half-close a request they still want answered, so EOF means gone.
        self._client_gone()
        return super().eof_received()

    def connection_lost(self, exc):
        self._client_gone()
        super().connection_lost(exc)

    def _client_gone(self) -> None:
        self.gone = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


_date_cache = [0, ""]


def http_date() -> str:
    """The Date header value, formatted at most once a second (it showed up in profiles)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class Connection:
    """One client connection: reads requests, writes plain, gzipped or chunked responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.protocol: Protocol = writer.transport.get_protocol()
        self.closed = False
        self.keep_alive = True

    @property
    def gone(self) -> bool:
        """True once the client closed its side or the socket failed."""
        return self.protocol.gone or self.writer.transport.is_closing()

    async def read_request(self) -> Optional[Request]:
        """Next request on this connection, or None when the client closed it between requests."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                raise BadRequest("truncated request head") from None
            return None
        except asyncio.LimitOverrunError:
            raise BadRequest("request head too large") from None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            raise BadRequest(f"bad request line {lines[0]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(f"bad header line {line!r}")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if headers.get("expect", "").lower() == "100-continue":
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        req = Request(method, target, version, headers, body)
        self.keep_alive = req.keep_alive
        return req

    async def _read_body(self, headers: dict) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailers are ignored
                    return b"".join(parts)
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise BadRequest("body too large")
        return await self.reader.readexactly(length) if length else b""

    def _head(self, status: int, headers: Iterable[tuple[str, str]]) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}", f"date: {http_date()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if not self.keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(self, status: int, body: bytes, content_type: str, headers: Iterable = (),
                   compress: bool = False) -> bool:
        """Write a whole response with Content-Length; False if the client had gone."""
        headers = list(headers) + [("content-type", content_type)]
        if compress and body:
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers.append(("content-encoding", "gzip"))
        headers.append(("content-length", str(len(body))))
        return await self.write(self._head(status, headers) + body)

    async def start_chunked(self, status: int, content_type: str, headers: Iterable = ()) -> bool:
        """Write the head of a chunked (streamed) response."""
        headers = list(headers) + [("content-type", content_type), ("transfer-encoding", "chunked")]
        return await self.write(self._head(status, headers))

    async def send_chunk(self, data: bytes) -> bool:
        """Write one HTTP chunk; False if the client has gone (EOF seen or write failed)."""
        return await self.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_chunked(self) -> bool:
        """Write the terminating zero-length chunk."""
        return await self.write(b"0\r\n\r\n")

    async def write(self, data: bytes) -> bool:
        """Write and drain; False (without raising) if the client is gone."""
        if self.gone:
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            return False
        return not self.protocol.gone

    async def pause(self, seconds: float) -> bool:
        """Sleep, but wake early when the client leaves; True if the client is still there."""
        if seconds <= 0 or self.gone:
            return not self.gone
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.protocol.waiter = fut
        handle = loop.call_later(seconds, _wake, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self.protocol.waiter = None
        return not self.gone

    async def drop(self, reset: bool = False) -> None:
        """Close abruptly mid-response: FIN after flushing, or RST when `reset`."""
        self.closed = True
        transport = self.writer.transport
        if not reset:
            transport.close()  # flushes what was written, then FIN
            return
        for _ in range(100):  # let the kernel take what was written before the RST
            if transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.01)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()

    def close(self) -> None:
        """Close gracefully after what was written."""
        self.closed = True
        self.writer.transport.close()
