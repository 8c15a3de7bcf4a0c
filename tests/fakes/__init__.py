"""Fake OpenAI and Gemini upstreams on loopback, speaking the real wire formats, for tests and benchmarks."""
from __future__ import annotations

import socket

from .behaviour import Behaviour
from .fake_gemini import FakeGemini
from .fake_openai import FakeOpenAI
from .server import FakeServer, RecordedRequest, StreamRecord

__all__ = ["Behaviour", "FakeGemini", "FakeOpenAI", "FakeServer", "RecordedRequest",
           "StreamRecord", "closed_port", "free_port"]

# Bound but never listening: connects are refused, and no other process can take the port.
_reserved: list[socket.socket] = []


def closed_port() -> int:
    """A loopback port where a connection is refused (nothing listens, and nothing will)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _reserved.append(sock)
    return sock.getsockname()[1]


def free_port() -> int:
    """A loopback port nothing listens on now, for a server about to start there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
