"""What graceful stop adds to each call: the deadline watch around a stream or a JSON call, the check per delta.

Usage: .venv/bin/python bench/stop.py [--repeat 15] [--number 200000]

Prints the median CPU time of each piece (process time, so only this process's work counts):
`watch` (streams) and `watch_call` (JSON calls) untracked (plain threads) and tracked (gevent: the
call's greenlet is remembered so the deadline can wake it), and the per-delta `deadline is not None`
test while serving.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aichat.lifecycle import Lifecycle  # noqa: E402


def per_call_ns(fn, number: int, repeat: int) -> float:
    """Median over `repeat` runs of the CPU nanoseconds per call of `fn(number)`."""
    runs = []
    for _ in range(repeat):
        start = time.process_time_ns()
        fn(number)
        runs.append((time.process_time_ns() - start) / number)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args()
    session = object()
    plain = Lifecycle(25.0)
    tracked = Lifecycle(25.0)
    tracked.track_greenlets()

    def empty(n):
        for _ in range(n):
            pass

    def watch(lifecycle):
        def run(n):
            for _ in range(n):
                with lifecycle.watch(session):
                    pass
        return run

    def watch_call(lifecycle):
        def run(n):
            for _ in range(n):
                with lifecycle.watch_call():
                    pass
        return run

    def check(n):
        lifecycle = plain
        for _ in range(n):
            if lifecycle.deadline is not None:
                lifecycle.check(session)

    base = per_call_ns(empty, args.number, args.repeat)
    rows = [("watch, per stream (plain threads)", per_call_ns(watch(plain), args.number, args.repeat) - base),
            ("watch, per stream (gevent, tracked)", per_call_ns(watch(tracked), args.number, args.repeat) - base),
            ("watch_call, per JSON call (plain threads)",
             per_call_ns(watch_call(plain), args.number, args.repeat) - base),
            ("watch_call, per JSON call (gevent, tracked)",
             per_call_ns(watch_call(tracked), args.number, args.repeat) - base),
            ("deadline test, per delta", per_call_ns(check, args.number, args.repeat) - base)]
    print(f"{'piece':44} {'median CPU':>12}")
    for name, ns in rows:
        print(f"{name:44} {max(ns, 0.0) / 1000:9.3f} µs")


if __name__ == "__main__":
    main()
