"""The CPU that metrics and the access log add to one request.

Usage: .venv/bin/python bench/telemetry.py [--requests 2000] [--rounds 7]

Two apps on a throw-away SQLite database, one as shipped and one with the telemetry hooks taken
out (no request timing, counting or log line, attempts handed straight to the recorder). The
WSGI app is called directly, as a server would (environ in, body read, response closed), on the
demo chat (JSON) and on GET /health. Each round times N requests per app with the calling
thread's CPU clock (the usage writer's thread is not counted), alternating apps; the median of
the rounds is printed. Log lines go to /dev/null, so writing them is part of the cost.
"""
import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from werkzeug.test import EnvironBuilder  # noqa: E402

from aichat import create_app  # noqa: E402
from aichat.telemetry import access  # noqa: E402
from aichat.runtime import runtime_of

CHAT = {"messages": [{"role": "user", "content": "hello"}], "suggestions": False}


def build(url: str, telemetry: bool):
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url, "AICHAT_RATE_LIMIT": "1000000/second",
                      "RATELIMIT_STORAGE_URI": "memory://", "AICHAT_USAGE_FLUSH_INTERVAL": 0.05})
    if not telemetry:
        hooks = {"start", "finish"}
        for funcs in (app.before_request_funcs[None], app.after_request_funcs[None]):
            funcs[:] = [f for f in funcs if not (f.__module__ == access.__name__ and f.__name__ in hooks)]
        runtime_of(app).gateway.sink = runtime_of(app).recorder.submit
    return app


def environ(path: str, body: dict | None):
    builder = EnvironBuilder(path=path, method="POST" if body else "GET", json=body)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, env_factory) -> int:
    status = []
    body = app(env_factory(), lambda s, h, exc=None: status.append(s))
    try:
        for _ in body:
            pass
    finally:
        body.close()
    return int(status[0][:3])


def cpu_per_request(app, path, body, n) -> float:
    """Microseconds of this thread's CPU per request, over n requests."""
    start = time.thread_time()
    for _ in range(n):
        assert call(app, lambda: environ(path, body)) == 200
    return (time.thread_time() - start) / n * 1e6


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000, help="requests per app per round (default 2000)")
    p.add_argument("--rounds", type=int, default=7, help="rounds; the median is printed (default 7)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        from flask_migrate import upgrade

        on = build(url, telemetry=True)
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        with on.app_context():
            upgrade()
        root.handlers[:], root.level = handlers, level  # the migrations' logging set-up would print every line again
        off = build(url, telemetry=False)
        sys.stderr = open(os.devnull, "w")  # the access log's lines
        print(f"{'request':<22}{'off µs':>10}{'on µs':>10}{'extra µs':>10}", file=sys.__stdout__)
        for label, path, body in (("demo chat (JSON)", "/api/v1/ai-proxy/chat", CHAT), ("GET /health", "/health", None)):
            for app in (on, off):  # warm up: label children, SDK paths, pools
                cpu_per_request(app, path, body, 200)
            rounds = {"on": [], "off": []}
            for _ in range(a.rounds):
                rounds["off"].append(cpu_per_request(off, path, body, a.requests))
                rounds["on"].append(cpu_per_request(on, path, body, a.requests))
            off_us, on_us = statistics.median(rounds["off"]), statistics.median(rounds["on"])
            extra = statistics.median(x - y for x, y in zip(rounds["on"], rounds["off"]))
            print(f"{label:<22}{off_us:>10.1f}{on_us:>10.1f}{extra:>10.1f}", file=sys.__stdout__, flush=True)
        for app in (on, off):
            runtime_of(app).recorder.close()


if __name__ == "__main__":
    main()
