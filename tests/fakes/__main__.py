"""Run a fake upstream standalone: python -m tests.fakes {openai,gemini} [--port N] ..."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .fake_gemini import FakeGemini
from .fake_openai import FakeOpenAI


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; timings mirror the Behaviour fields."""
    p = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    p.add_argument("provider", choices=["openai", "gemini"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--delay-ms", type=float, default=0.0, help="wait before response headers")
    p.add_argument("--first-chunk-delay-ms", type=float, default=0.0)
    p.add_argument("--chunk-interval", type=float, default=0.0, help="seconds between chunks")
    p.add_argument("--chunks", type=int, default=None, help="content chunks per stream")
    p.add_argument("--text", default=None, help="fixed reply text instead of the echo")
    p.add_argument("--keys", default=None, help="comma-separated valid keys (default: any)")
    p.add_argument("--no-gzip", action="store_true", help="never gzip JSON bodies")
    p.add_argument("--history", type=int, default=1000, help="request records kept in memory")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cls = FakeOpenAI if args.provider == "openai" else FakeGemini
    keys = {k.strip() for k in args.keys.split(",") if k.strip()} if args.keys else None
    srv = cls(keys, host=args.host, port=args.port, gzip=not args.no_gzip, history=args.history,
              delay=args.delay_ms / 1000, first_chunk_delay=args.first_chunk_delay_ms / 1000,
              chunk_interval=args.chunk_interval, chunks=args.chunks, text=args.text).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"listening on {srv.root_url}", flush=True)
    while not stop.wait(0.2):  # short waits: the handler runs between them
        pass
    srv.stop()
    print(f"served {srv.total_requests} requests, peak {srv.peak_open_streams} open streams",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
