"""The fake-upstream base: an asyncio loop in a daemon thread, scripted plans and request records."""
from __future__ import annotations

import asyncio
import json
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .behaviour import Behaviour
from .http11 import MAX_HEAD, BadRequest, Connection, Protocol, Request


@dataclass
class RecordedRequest:
    """One request as the fake saw it; times are time.monotonic()."""

    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes
    json: Any  # parsed body, None when absent or not JSON
    key: Optional[str]  # the API key presented, if any
    time: float
    status: Optional[int] = None  # status sent, None if no response was sent
    behaviour: Optional[Behaviour] = None  # the behaviour that answered it
    client_disconnected: bool = False  # the client left before the response was complete


@dataclass
class StreamRecord:
    """One streamed response: how far it got and how it ended."""

    request: RecordedRequest
    started_at: float
    chunks_sent: int = 0  # content chunks written
    completed: bool = False  # finished normally (terminator sent)
    client_disconnected: bool = False  # the client went away mid-stream
    broken: bool = False  # we dropped it on purpose (break_after)
    ended_at: Optional[float] = None
    ended: threading.Event = field(default_factory=threading.Event, repr=False)


def raise_fd_limit() -> None:
    """Thousands of concurrent streams need more descriptors than the usual soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


class FakeServer:
    """Base of the fake upstreams; subclasses implement `key_of` and `handle`."""

    def __init__(self, valid_keys: Optional[set] = None, *, host: str = "127.0.0.1", port: int = 0,
                 gzip: bool = True, history: Optional[int] = None, **defaults: Any):
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self.host, self.port = host, port
        self.gzip = gzip
        self.history = history  # keep only the last N records (long benchmark runs)
        self.default = Behaviour(**defaults)
        self._initial_default = self.default
        self.requests: list[RecordedRequest] = []
        self.streams: list[StreamRecord] = []
        self.open_streams = 0
        self.peak_open_streams = 0
        self.total_requests = 0
        self.total_connections = 0  # accepted TCP connections: shows whether clients keep alive
        self._plans: list[Behaviour] = []
        self._cond = threading.Condition()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._conns: set[Connection] = set()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FakeServer":
        """Bind and serve in a background thread; returns self."""
        raise_fd_limit()
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, errors), daemon=True,
                                        name=f"{type(self).__name__}-loop")
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def _run(self, ready: threading.Event, errors: list) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(loop.create_server(
                self._protocol, self.host, self.port, backlog=8192, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:  # reported to start() in the caller's thread
            errors.append(e)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _protocol(self) -> Protocol:
        return Protocol(asyncio.StreamReader(limit=MAX_HEAD), self._serve)

    def stop(self) -> None:
        """Close every connection and the listener, then end the thread."""
        loop, self._loop = self._loop, None
        if loop is None or not loop.is_running():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        # Aborting wakes every handler (reads hit EOF, pauses and drains return) so they end
        # on their own; cancel only what is still left after that.
        for conn in list(self._conns):
            conn.writer.transport.abort()
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> "FakeServer":
        return self.start() if self._loop is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """http://host:port with no path."""
        return f"http://{self.host}:{self.port}"

    # ---- scripting -------------------------------------------------------------------------
    def plan(self, key: Optional[str] = None, times: int = 1, **fields: Any) -> Behaviour:
        """Queue a behaviour (defaults filled from the server's) for the next matching request(s)."""
        b = self.default.replace(key=key, **fields)
        with self._cond:
            self._plans.extend([b] * times)
        return b

    def take_plan(self, key: Optional[str]) -> Behaviour:
        """First queued behaviour for this key (or for any key), else the default."""
        with self._cond:
            for i, b in enumerate(self._plans):
                if b.key is None or b.key == key:
                    return self._plans.pop(i)
        return self.default

    @property
    def pending_plans(self) -> int:
        """How many planned behaviours are still queued."""
        return len(self._plans)

    def reset(self) -> None:
        """Forget plans, records and changes to the default (open streams keep running)."""
        with self._cond:
            self.default = self._initial_default
            self._plans.clear()
            self.requests.clear()
            self.streams.clear()
            self.total_requests = self.total_connections = 0
            self.peak_open_streams = self.open_streams

    # ---- waiting (from test threads) -------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until predicate() is true (re-checked on every server event) or timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_for_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """True once `count` streams have seen their client go away."""
        return self.wait_until(
            lambda: sum(s.client_disconnected for s in self.streams) >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """True once `count` requests have been recorded since the last reset."""
        return self.wait_until(lambda: len(self.requests) >= count, timeout)

    def wait_for_streams_ended(self, count: int = 1, timeout: float = 5.0) -> bool:
        """True once `count` recorded streams have ended, however they ended."""
        return self.wait_until(
            lambda: sum(s.ended_at is not None for s in self.streams) >= count, timeout)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # ---- serving ---------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        self._conns.add(conn)
        self.total_connections += 1
        try:
            while not conn.closed:
                try:
                    req = await conn.read_request()
                except BadRequest as e:
                    conn.keep_alive = False
                    await conn.send(400, str(e).encode(), "text/plain")
                    break
                if req is None:
                    break
                await self.handle(conn, req, self._record(req))
                if not conn.keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass  # the client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            # Only stop() cancels; 3.11's stream callback would log a re-raised cancel as an error.
            pass
        finally:
            self._conns.discard(conn)
            if not conn.closed:
                conn.close()

    def _record(self, req: Request) -> RecordedRequest:
        try:
            body = json.loads(req.body) if req.body else None
        except ValueError:
            body = None
        rec = RecordedRequest(req.method, req.path, req.query, req.headers, req.body, body,
                              self.key_of(req), time.monotonic())
        with self._cond:
            self.total_requests += 1
            self.requests.append(rec)
            if self.history and len(self.requests) > 2 * self.history:
                del self.requests[:-self.history]
            self._cond.notify_all()
        return rec

    def key_of(self, req: Request) -> Optional[str]:
        """The API key the request presents."""
        raise NotImplementedError

    async def handle(self, conn: Connection, req: Request, rec: RecordedRequest) -> None:
        """Answer one request."""
        raise NotImplementedError

    # ---- helpers for subclasses ------------------------------------------------------------
    async def send_json(self, conn: Connection, req: Request, rec: RecordedRequest, status: int,
                        obj: Any, headers: list, content_type: str = "application/json") -> None:
        """Send a JSON body, gzipped when the client accepts it, as the real services do."""
        body = json.dumps(obj).encode()
        rec.status = status
        ok = await conn.send(status, body, content_type, headers, self.gzip and req.accepts_gzip)
        rec.client_disconnected = not ok
        if not ok:
            self._notify()

    async def wait_before_headers(self, conn: Connection, rec: RecordedRequest,
                                  b: Behaviour) -> bool:
        """Apply `delay` and `drop`; False when there is nothing more to send."""
        if not await conn.pause(b.delay):
            rec.client_disconnected = True
            self._notify()
            return False
        if b.drop:
            await conn.drop(b.reset)
            return False
        return True

    async def run_stream(self, conn: Connection, rec: RecordedRequest, b: Behaviour,
                         content_type: str, headers: list, events: list[bytes],
                         head: bytes = b"", tail: bytes = b"") -> None:
        """Stream `events` one chunk each, with the behaviour's pacing, break and usage rules."""
        rec.status = 200
        srec = StreamRecord(rec, time.monotonic())
        with self._cond:
            self.streams.append(srec)
            if self.history and len(self.streams) > 2 * self.history:
                del self.streams[:-self.history]
            self.open_streams += 1
            self.peak_open_streams = max(self.peak_open_streams, self.open_streams)
            self._cond.notify_all()
        try:
            ok = await conn.start_chunked(200, content_type, headers)
            ok = ok and await conn.pause(b.first_chunk_delay)
            limit = len(events) if b.break_after is None else min(b.break_after, len(events))
            for i in range(limit):
                if i and not await conn.pause(b.chunk_interval):
                    ok = False
                    break
                data = head + events[i] if i == 0 else events[i]
                if not (ok and await conn.send_chunk(data)):
                    ok = False
                    break
                srec.chunks_sent += 1
            if ok and b.break_after is not None:
                srec.broken = True
                await conn.drop(b.reset)
            elif ok:
                if not events and head:
                    ok = await conn.send_chunk(head)
                ok = ok and (not tail or await conn.send_chunk(tail))
                ok = ok and await conn.end_chunked()
                srec.completed = ok
            srec.client_disconnected = rec.client_disconnected = not ok
        finally:
            self.open_streams -= 1
            srec.ended_at = time.monotonic()
            srec.ended.set()
            self._notify()
