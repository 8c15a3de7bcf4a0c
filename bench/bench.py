"""Measure aichat against a bare Flask relay and a direct call to the same fake upstream (LiteLLM for reference).

Usage: .venv/bin/python bench/bench.py [--quick] [--litellm] [--streams 1000,3000] [--skip PHASES] [--pin]
"""
import argparse
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import time

import phases
import report
import servers
import wrkrun

RESULTS = os.path.join(servers.BENCH, "results", "latest.md")


PHASES = ("latency", "ttfd", "c32", "throughput", "streams")


def parse_args(argv=None):
    """Command-line options; --quick shrinks every count for a smoke check of about a minute."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts, short runs (about a minute)")
    p.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy (bench/setup-litellm.sh)")
    p.add_argument("--streams", default=None,
                   help="comma-separated burst sizes: streams opened at once (default 1000,3000; 100 with --quick)")
    p.add_argument("--burst-warm", type=int, default=None,
                   help="streams opened (to their first delta) before each burst, so every worker is warm (default 20)")
    p.add_argument("--database-url", default=None, help="aichat's DATABASE_URL (default: a temporary SQLite file)")
    p.add_argument("--workers", type=int, default=None, help="AICHAT_WORKERS, and the relay's workers (default: gunicorn.conf.py's)")
    p.add_argument("--litellm-workers", type=int, default=1, help="LiteLLM --num_workers (default 1, its own default)")
    p.add_argument("--pin", action="store_true", help="pin the client to the last CPU and the servers to the others")
    p.add_argument("--nice", type=int, default=0,
                   help="niceness of this script's session and of every server's session; below 0 (root only) "
                        "puts the run ahead of other work on a shared machine")
    p.add_argument("--skip", default="", help=f"comma-separated phases to skip: {','.join(PHASES)}")
    p.add_argument("--only", default="", help="comma-separated phases to run (the others are skipped)")
    p.add_argument("--fake-module", default="tests.fakes", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.json_n, a.ttfd_n, a.rounds, a.warm = (200, 40, 4, 20) if q else (2000, 300, 10, 100)
    a.wrk_seconds, a.wrk_warm = (2, 1) if q else (10, 2)
    a.chunks, a.interval = (3, 1.0) if q else (15, 1.0)
    a.bursts = [int(n) for n in (a.streams or ("100" if q else "1000,3000")).split(",") if n]
    a.burst_warm = 20 if a.burst_warm is None else a.burst_warm
    a.skip = {s for s in a.skip.split(",") if s}
    if a.only:
        a.skip |= set(PHASES) - {s for s in a.only.split(",") if s}
    unknown = a.skip - set(PHASES)
    if unknown:
        p.error(f"unknown phase(s): {', '.join(sorted(unknown))}; phases are {', '.join(PHASES)}")
    return a


def log(msg):
    """Progress on stderr, so stdout carries only the table."""
    print(msg, file=sys.stderr, flush=True)


def raise_fd_limit(bursts):
    """Every held stream is a socket here and two in a worker (maybe all in one); children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * max(bursts or [0]) + 1024
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))  # allowed for root only
        except (ValueError, OSError):
            log(f"open-files hard limit {hard} is below the {want} the largest burst may need")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def prioritise_run(nice):
    """Every server's session and this script's (the load clients') at `nice`; the caller's session is left alone."""
    servers.NICE = nice
    try:
        os.setsid()  # a session of our own, unless we lead a process group (run from an interactive shell)
    except OSError:
        pass
    if os.getsid(0) == os.getpid():
        servers.prioritise(os.getpid(), nice)
    else:
        log("--nice: the load clients keep the caller's session (run under setsid to include them)")
    os.nice(nice)


def cpu_sets(pin):
    """(client CPUs, server CPUs) when pinning, else (None, None)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


class Run:
    """Everything one benchmark run starts, so it can all be stopped in one place."""

    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.client_cpus, self.server_cpus = cpu_sets(args.pin)
        self.started = []
        self.results = {"lat": {}, "ttfd": {}, "c32": {}, "rps": {}, "bursts": {}, "skipped": {}}
        self.columns = ["direct", "relay", "aichat"] + (["litellm"] if args.litellm else [])
        self.fakes, self.litellm, self.env, self.sizes = {}, None, None, None
        self.litellm_version = None

    def start(self, server):
        """Remember a started server for the final stop."""
        self.started.append(server)
        return server

    def stop(self, server):
        """Stop one server started for a phase."""
        server.stop()
        self.started.remove(server)

    def stop_all(self):
        """Stop what we started, newest first, each by its own pid."""
        while self.started:
            self.started.pop().stop()

    def setup(self):
        """Fakes for the three upstream shapes, LiteLLM once, aichat's database once."""
        a = self.args
        shapes = {"fast": {}, "slow": {"delay_ms": 50}, "stream": {"chunk_interval": a.interval, "chunks": a.chunks}}
        for shape, kw in shapes.items():
            self.fakes[shape] = self.start(servers.start_fake(self.tmp, a.fake_module, cpus=self.server_cpus, **kw))
        log(f"fakes up: {', '.join(f'{k}={s.port}' for k, s in self.fakes.items())}")
        if a.litellm:
            self.litellm_version = servers.litellm_version()
            if not self.litellm_version:
                self.skip("litellm", "not installed; run bench/setup-litellm.sh (needs PyPI access)")
            else:
                log(f"starting LiteLLM {self.litellm_version} (takes ~15 s)")
                try:
                    self.litellm = self.start(servers.start_litellm(
                        self.tmp, {k: s.port for k, s in self.fakes.items()}, a.litellm_workers, self.server_cpus))
                except servers.StartError as e:
                    self.skip("litellm", str(e))
        self.env = servers.aichat_env(self.tmp, self.fakes["fast"].port, a.database_url, a.workers)
        # The relay gets aichat's workers, connections per worker, backlog and keep-alive.
        self.sizes = servers.gunicorn_sizes(self.env)
        if not servers.aichat_present():
            self.skip("aichat", "gunicorn.conf.py or wsgi.py missing at the repository root")
            return
        try:
            servers.migrate(self.tmp, self.env)
        except (servers.StartError, subprocess.TimeoutExpired) as e:
            self.skip("aichat", str(e))

    def skip(self, name, why):
        """Drop a column for the rest of the run and say why."""
        log(f"{name}: skipped: {why}")
        self.results["skipped"][name] = why.splitlines()[0][:200] if why else "failed"
        self.results["skipped"].setdefault(f"{name}_detail", why)

    def targets(self, shape, relay_worker):
        """Targets for one phase: the relay (under `relay_worker`) and aichat are (re)started for that phase's fake."""
        fake = self.fakes[shape]
        out = [phases.Target("direct", fake.port, "bench-key", fake.pid)]
        own = []
        if "relay" not in self.results["skipped"]:
            try:
                relay = self.start(servers.start_relay(self.tmp, relay_worker, fake.port, self.sizes, self.server_cpus))
                own.append(relay)
                out.append(phases.Target("relay", relay.port, "bench-key", relay.pid))
            except servers.StartError as e:
                self.skip("relay", str(e))
        if "aichat" not in self.results["skipped"]:
            self.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{fake.port}/v1"
            try:
                gw = self.start(servers.start_aichat(self.tmp, self.env, self.server_cpus, self.sizes["workers"]))
                own.append(gw)
                out.append(phases.Target("aichat", gw.port, "bench-key", gw.pid))
            except servers.StartError as e:
                self.skip("aichat", str(e))
        if self.litellm and "litellm" not in self.results["skipped"]:
            models = {"fast": "gpt-4o-mini", "slow": "bench-slow", "stream": "bench-stream"}
            out.append(phases.Target("litellm", self.litellm.port, "sk-bench-key", self.litellm.pid, models))
        return out, own

    def phase(self, name, shape, relay_worker, fn):
        """Run one measurement with the relay and aichat started for it and stopped after."""
        if name in self.args.skip:
            return
        log(f"phase: {name}")
        targets, own = self.targets(shape, relay_worker)
        try:
            fn(targets)
        finally:
            for server in reversed(own):
                self.stop(server)

    def run(self):
        """All phases in order; the report is written even if a phase fails."""
        a, r = self.args, self.results
        if self.client_cpus:
            os.sched_setaffinity(0, self.client_cpus)  # wrk inherits it
        self.setup()

        def latency(targets):
            gw = next((t for t in targets if t.name == "aichat"), None)
            r["lat"] = phases.latency(targets, a.json_n, a.rounds, a.warm, gw and gw.port, log)

        def ttfd(targets):
            r["ttfd"] = phases.first_delta(targets, a.ttfd_n, a.rounds, a.warm // 5, log)

        def c32(targets):
            r["c32"] = phases.concurrent(targets, "fast", a.wrk_seconds, a.wrk_warm, 32, log)

        def throughput(targets):
            r["rps"] = phases.concurrent(targets, "slow", a.wrk_seconds, a.wrk_warm, 32, log)

        self.phase("latency", "fast", "gthread", latency)
        self.phase("ttfd", "slow", "gevent", ttfd)
        if wrkrun.available():
            self.phase("c32", "fast", "gthread", c32)
            self.phase("throughput", "slow", "gthread", throughput)
        else:
            log(wrkrun.INSTALL_HINT)
            r["rps_missing"] = wrkrun.INSTALL_HINT
        for count in a.bursts:
            # Fresh servers for each size: the peak memory of one burst is not left over from the last.
            def streams(targets, count=count):
                r["bursts"][count] = phases.burst(targets, count, a.chunks, a.chunks * a.interval, a.burst_warm,
                                                  self.fakes["stream"].pid, log)

            self.phase("streams", "stream", "gevent", streams)


def notes(run, fd_limit, started, load0):
    """Methodology and conditions printed under the table."""
    a, r = run.args, run.results
    lat, sizes = r["lat"], run.sizes or {}
    lines = [
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} CPUs, "
        f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}; run took {time.monotonic() - started:.0f} s"
        + (" (--quick)" if a.quick else "") + (f"; skipped phases: {', '.join(sorted(a.skip))}" if a.skip else "")
        + (f"; every session at niceness {a.nice}" if a.nice else ""),
        f"- relay: bench/relay.py (Flask + requests) under gunicorn, {sizes.get('workers')} workers like aichat: "
        f"gthread ({servers.RELAY_THREADS} threads each) for the JSON rows, gevent ({sizes.get('worker_connections')} "
        f"connections each) for the stream rows; backlog {sizes.get('backlog')}, keep-alive {sizes.get('keepalive')} s.",
        f"- aichat: gunicorn -c gunicorn.conf.py (gevent), AICHAT_WORKERS={sizes.get('workers')}, database "
        f"{'given by --database-url' if a.database_url else 'temporary SQLite file'}, usage logging on.",
    ]
    if lat:
        lines += [
            f"- c=1 rows: {a.json_n} JSON requests (upstream 0 ms) and {a.ttfd_n} streams (upstream 50 ms before its "
            f"headers) per target, one at a time on a keep-alive connection, in {a.rounds} interleaved rounds after "
            f"warm-up; overhead = percentile − direct's percentile.",
            "- CPU: utime+stime (+ reaped children) of the server's process tree from /proc, around the measured "
            "requests only; the client is another process and never counted.",
        ]
    if r["c32"] or r["rps"]:
        lines.append(f"- c=32 rows: wrk, 1 thread, 32 connections, {a.wrk_seconds} s after {a.wrk_warm} s warm-up; "
                     "only 2xx answers count.")
    if r["bursts"]:
        lines.append(f"- Bursts: N streams opened at once per target ({a.burst_warm} warm-up streams first), "
                     f"{a.chunks} deltas 1 s apart; first delta from the stream's connect to its first content "
                     f"delta; streams without one count as slowest. RSS and PSS summed over the server's process "
                     f"tree every 0.5 s. FD limit {fd_limit}.")
        for count, by_name in sorted(r["bursts"].items()):
            spread = "; ".join(f"{n} {h['peak_fds']} / {h['worker_cpu']} s" for n, h in by_name.items() if h["peak_fds"])
            others = ", ".join(f"{n} {h['others_cpu'] * 100:.0f}%" for n, h in by_name.items())
            lines.append(f"- {count} streams: peak open descriptors / CPU seconds per worker (how the burst spread): "
                         f"{spread}. Other work on the machine meanwhile (share of one CPU): {others}.")
    lines.append("- Fake upstream: tests.fakes, one process per upstream shape (not counted in any server's CPU or RSS).")
    if "client_cpu" in lat:
        lines.append(f"- Client (this script) during the c=1 JSON rows: {lat['client_cpu'] * 100:.0f}% of a CPU, "
                     f"{lat['client_ms']:.2f} ms CPU per request (the same for every target, so it cancels out).")
    holds = ", ".join(f"{c}/{n} {h['client_cpu'] * 100:.0f}%" for c, by in r["bursts"].items() for n, h in by.items())
    if holds:
        lines.append(f"- Client CPU while holding streams (share of one CPU): {holds}.")
    shares = ", ".join(f"{n} {v['client_cpu'] * 100:.0f}%" for n, v in r["c32"].items() if "client_cpu" in v)
    if shares:
        lines.append(f"- wrk's own CPU at c=32, upstream 0 ms (share of one CPU): {shares}.")
    if "cpu_ms" in lat and "direct" in lat["cpu_ms"]:
        lines.append(f"- The fake upstream itself spent {lat['cpu_ms']['direct']:.2f} ms CPU per JSON request.")
    if run.client_cpus:
        lines.append(f"- Pinned: client (this script, wrk) on CPUs {sorted(run.client_cpus)}, servers on {sorted(run.server_cpus)}.")
    else:
        lines.append("- Not pinned: client and servers share all CPUs.")
    if a.litellm and run.litellm_version:
        lines.append(f"- LiteLLM {run.litellm_version}: proxy CLI, uvicorn, {a.litellm_workers} worker(s), no database (so no spend logs), "
                     "master key checked, LITELLM_LOG=ERROR, message logging off (bench/litellm.yaml).")
    if r.get("rps_missing"):
        lines.append(f"- c=32 rows not measured: {r['rps_missing']}.")
    return lines


def main(argv=None):
    """Run everything, print the table, write bench/results/latest.md; exit 1 if aichat misses a target."""
    args = parse_args(argv)
    started, load0 = time.monotonic(), os.getloadavg()
    fd_limit = raise_fd_limit(args.bursts)
    if args.nice:
        prioritise_run(args.nice)
    with tempfile.TemporaryDirectory(prefix="aichat-bench-") as tmp:
        run = Run(args, tmp)
        try:
            run.run()
        except KeyboardInterrupt:
            log("interrupted; stopping servers")
            raise
        finally:
            run.stop_all()
    r = run.results
    text = "\n".join([
        "# aichat benchmark",
        "",
        report.table(r, run.columns),
        "",
        *notes(run, fd_limit, started, load0),
        *report.failures(r, run.columns),
        "",
    ])
    print(text)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write(text)
    log(f"written to {os.path.relpath(RESULTS)}")
    detail = r["skipped"].get("aichat_detail")
    if detail:
        log(f"aichat did not run:\n{detail}")
    return 1 if "**miss**" in text or "aichat" in r["skipped"] else 0


if __name__ == "__main__":
    sys.exit(main())
