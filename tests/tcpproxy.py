"""A loopback TCP forwarder for outage tests: forward to a target, refuse, or blackhole.

`TcpProxy(target_port).start()` listens on a free 127.0.0.1 port (`.port`) that stays the same
across modes. `set_mode("refuse")` closes the listener (connecting is refused), `"blackhole"`
accepts and forwards nothing, `"forward"` relays again; switching drops the connections open so
far unless `drop=False`. `.connections` counts connections accepted since start.
"""
from __future__ import annotations

import socket
import threading

FORWARD, REFUSE, BLACKHOLE = "forward", "refuse", "blackhole"


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = FORWARD
        self.connections = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self, mode: str = FORWARD) -> TcpProxy:
        self.mode = mode
        if mode != REFUSE:
            self._listen()
        return self

    def set_mode(self, mode: str, drop: bool = True) -> None:
        """Switch mode; by default the connections open so far are cut, as when a server goes away."""
        assert mode in (FORWARD, REFUSE, BLACKHOLE), mode
        if mode == REFUSE:
            self._close_listener()
        self.mode = mode
        if drop:
            self.drop()
        if mode != REFUSE and self._listener is None:
            self._listen()

    def drop(self) -> None:
        """Cut every open connection, both sides."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        self.drop()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)  # the accept loop looks at the mode and the stop flag this often
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.add(client)
            if self.mode == FORWARD:
                threading.Thread(target=self._relay, args=(client,), daemon=True).start()
            else:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._forget(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.add(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self._forget(source)
        self._forget(sink)

    def _swallow(self, client: socket.socket) -> None:
        """Blackhole: read and discard, answer nothing, until cut."""
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass
        self._forget(client)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv on it
    except OSError:
        pass
    sock.close()
