"""Time the monitoring API over a large usage log, on SQLite and on PostgreSQL.

Usage: .venv/bin/python bench/monitoring.py [--rows 1000000] [--databases sqlite,postgresql] [--repeat 30]
                                            [--chat] [--keep]

For each database: apply the migrations, `flask usage seed-demo --rows N` (90 days of realistic traffic,
rolled up), create an admin token, serve aichat the production way (gunicorn, gevent workers), and send
`summary`, `daily` and `providers` for 7, 30 and 90 days one at a time on a keep-alive connection. The
table gives the median and p95 of each, against the 100 ms target. With --chat, the gateway benchmark
(bench/bench.py, latency and throughput phases) also runs on the seeded SQLite database and on an empty one,
to show the chat path does not slow down as the log grows.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import client
import servers

RESULTS = os.path.join(servers.BENCH, "results", "monitoring.md")
PG_BASE = "postgresql://127.0.0.1:5432/test"
ENDPOINTS = ("summary", "daily", "providers")
DAYS = (7, 30, 90)
TARGET_MS = 100.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="usage rows to seed (default 1,000,000)")
    p.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--repeat", type=int, default=30, help="timed requests per endpoint and period (default 30)")
    p.add_argument("--chat", action="store_true", help="also run bench/bench.py on the seeded and an empty database")
    p.add_argument("--keep", action="store_true", help="keep the seeded databases (their URLs are printed)")
    a = p.parse_args(argv)
    a.databases = [d for d in a.databases.split(",") if d]
    return a


def flask(env, *args, stdin=None, timeout=3600):
    """Run `flask --app wsgi …`; its progress bars go to our stderr; returns stdout."""
    r = subprocess.run([os.path.join(servers.VENV_BIN, "flask"), "--app", "wsgi", *args], cwd=servers.REPO,
                       env=env, input=stdin, stdout=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed with exit code {r.returncode}")
    return r.stdout


def database(kind, tmp):
    """(DATABASE_URL, cleanup) for a fresh database of that kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/monitoring.db", lambda: None
    if kind != "postgresql":
        raise SystemExit(f"unknown database {kind!r}: use sqlite or postgresql")
    import psycopg

    schema = f"aichat_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop():
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{PG_BASE}?options=-csearch_path%3D{schema}", drop


def get(port, path, token):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Accept: application/json\r\n\r\n").encode()


def time_queries(port, token, repeat):
    """{(endpoint, days): (median ms, p95 ms)} over `repeat` sequential requests after 3 warm-ups."""
    conn, out = client.Conn(port), {}
    try:
        for endpoint in ENDPOINTS:
            for days in DAYS:
                raw = get(port, f"/api/v1/ai-monitoring/{endpoint}?days={days}", token)
                for _ in range(3):
                    conn.fetch(raw)
                samples = sorted(conn.fetch(raw) * 1000 for _ in range(repeat))
                out[(endpoint, days)] = (statistics.median(samples), samples[int(0.95 * (len(samples) - 1))])
                log(f"  {endpoint:9} days={days:<3} median {out[(endpoint, days)][0]:7.2f} ms")
    finally:
        conn.close()
    return out


def seed_and_measure(kind, args, tmp):
    url, cleanup = database(kind, tmp)
    env = servers.aichat_env(tmp, servers.free_port(), url)
    env["AICHAT_ROLLUP_INTERVAL"] = "0"  # nothing changes while we measure
    try:
        log(f"{kind}: migrating and seeding {args.rows:,} rows")
        flask(env, "db", "upgrade")
        started = time.monotonic()
        flask(env, "usage", "seed-demo", "--rows", str(args.rows), "--days", "90")
        seeded = time.monotonic() - started
        flask(env, "users", "create-admin", "bench", "--password-stdin", stdin="bench-password-long\n")
        token = flask(env, "users", "create-token", "bench").strip()
        server = servers.start_aichat(tmp, env)
        try:
            timings = time_queries(server.port, token, args.repeat)
        finally:
            server.stop()
        return {"url": url, "seed_s": seeded, "timings": timings}
    finally:
        if not args.keep:
            cleanup()


def chat_bench(url):
    """bench/bench.py's latency and throughput phases against `url`; returns its table."""
    argv = [sys.executable, os.path.join(servers.BENCH, "bench.py"), "--skip", "streams", "--database-url", url]
    return subprocess.run(argv, cwd=servers.REPO, stdout=subprocess.PIPE, text=True, timeout=1800).stdout


def table(results, rows):
    kinds = list(results)
    head = "| endpoint | days | " + " | ".join(f"{k} median / p95 (ms)" for k in kinds) + " | target | result |"
    lines = [head, "|" + "---|" * (4 + len(kinds))]
    for endpoint in ENDPOINTS:
        for days in DAYS:
            cells, ok = [], True
            for k in kinds:
                median, p95 = results[k]["timings"][(endpoint, days)]
                cells.append(f"{median:.1f} / {p95:.1f}")
                ok = ok and median <= TARGET_MS
            lines.append(f"| {endpoint} | {days} | " + " | ".join(cells)
                         + f" | median ≤ {TARGET_MS:.0f} | {'pass' if ok else '**miss**'} |")
    seeds = ", ".join(f"{k} {results[k]['seed_s']:.0f} s" for k in kinds)
    lines.append("")
    lines.append(f"{rows:,} usage rows over 90 days; seeding and rolling up took {seeds}.")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="aichat-monitoring-") as tmp:
        for kind in args.databases:
            results[kind] = seed_and_measure(kind, args, tmp)
        report = table(results, args.rows)
        if args.chat and "sqlite" in results:
            log("chat path on the seeded SQLite database")
            seeded = chat_bench(results["sqlite"]["url"])
            log("chat path on an empty SQLite database")
            empty = chat_bench(f"sqlite:///{tmp}/empty.db")
            report += "\n\n### Chat path, empty log\n\n" + empty + "\n### Chat path, seeded log\n\n" + seeded
        print(report)
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            f.write(report + "\n")
    misses = [k for k in results for v in results[k]["timings"].values() if v[0] > TARGET_MS]
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
