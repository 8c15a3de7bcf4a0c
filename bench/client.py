"""Lean blocking HTTP/1.1 keep-alive client for one-at-a-time latency samples.

A plain socket with no HTTP library keeps the client's own cost small and equal
for every target, so gateway-minus-direct is the gateway's cost, not the client's.
"""
import json
import socket
import time


def post(port, path, body, key):
    """Raw bytes of a POST with a JSON body and a bearer key."""
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


class HTTPError(Exception):
    """A non-2xx answer or a broken response."""


def first_content_delta(event):
    """True if an SSE data payload carries a non-empty content delta (any of the shapes we serve)."""
    if event == b"[DONE]":
        return False
    try:
        d = json.loads(event)
    except ValueError:
        return False
    if not isinstance(d, dict):
        return False
    for c in d.get("choices") or ():
        if (c.get("delta") or {}).get("content"):
            return True
    # aichat's own ai-proxy events carry the text at the top level.
    return any(isinstance(d.get(k), str) and d[k] for k in ("content", "delta", "text"))


class Conn:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, port):
        self.port, self.sock, self.buf = port, None, b""

    def close(self):
        """Close the socket if open."""
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _read_until(self, sep):
        while (i := self.buf.find(sep)) < 0:
            self._recv()
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def fetch(self, raw, stream=False):
        """Send one request; return seconds to the full response (JSON) or to the first content delta (SSE)."""
        for attempt in (0, 1):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                attempt = 1  # a fresh connection failing is a real failure
            t0 = time.perf_counter()
            try:
                self.sock.sendall(raw)
                head = self._read_until(b"\r\n\r\n")
                break
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        return self._finish(head, t0, stream)

    def _finish(self, head, t0, stream):
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
        keep = headers.get("connection", "").lower() != "close"
        first = None
        events = _SSE() if stream else None
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = []
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                piece = self._read_exact(size + 2)[:-2]
                body.append(piece)
                if events and first is None and events.feed(piece):
                    first = time.perf_counter() - t0
            self._read_until(b"\r\n")  # trailer end
            body = b"".join(body)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            keep = False
            try:
                while True:
                    self._recv()
            except ConnectionError:
                body, self.buf = self.buf, b""
        elapsed = time.perf_counter() - t0
        if not keep:
            self.close()
        if not 200 <= status < 300:
            raise HTTPError(f"HTTP {status}: {body[:200]!r}")
        if stream:
            if first is None:
                # Content-Length framed SSE arrives whole; the first delta came with it.
                first = elapsed if events.feed(body) else None
            if first is None:
                raise HTTPError(f"stream without a content delta: {body[:200]!r}")
            return first
        return elapsed


class _SSE:
    """Incremental SSE splitter that reports whether a content delta has arrived."""

    def __init__(self):
        self.pending = b""

    def feed(self, data):
        """Add bytes; True once an event with content has been completed."""
        self.pending += data.replace(b"\r\n", b"\n")
        while (i := self.pending.find(b"\n\n")) >= 0:
            event, self.pending = self.pending[:i], self.pending[i + 2:]
            for line in event.split(b"\n"):
                if line.startswith(b"data:") and first_content_delta(line[5:].strip()):
                    return True
        return False


def sample(conn, raw, count, stream=False):
    """`count` sequential requests on one keep-alive connection: (latencies in seconds, failures, last error)."""
    out, failures, last = [], 0, None
    for _ in range(count):
        try:
            out.append(conn.fetch(raw, stream))
        except (HTTPError, OSError, ValueError, IndexError) as e:
            conn.close()
            failures, last = failures + 1, f"{type(e).__name__}: {e}"
    return out, failures, last
