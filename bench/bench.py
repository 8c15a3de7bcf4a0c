"""Measure aichat's overhead over a direct call to the same fake upstream (and LiteLLM's, for reference).

Usage: .venv/bin/python bench/bench.py [--quick] [--litellm] [--streams N] [--database-url URL] [--pin]
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


def parse_args(argv=None):
    """Command-line options; --quick shrinks every count for a smoke check under a minute."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts, short runs (< 1 minute)")
    p.add_argument("--litellm", action="store_true", help="also measure LiteLLM's proxy (bench/setup-litellm.sh)")
    p.add_argument("--streams", type=int, default=None, help="concurrent streams to hold (default 1000; 100 with --quick)")
    p.add_argument("--database-url", default=None, help="aichat's DATABASE_URL (default: a temporary SQLite file)")
    p.add_argument("--workers", type=int, default=None, help="AICHAT_WORKERS (default: gunicorn.conf.py's)")
    p.add_argument("--litellm-workers", type=int, default=1, help="LiteLLM --num_workers (default 1, its own default)")
    p.add_argument("--pin", action="store_true", help="pin the client to the last CPU and the servers to the others")
    p.add_argument("--skip", default="", help="comma-separated phases to skip: latency,throughput,streams")
    p.add_argument("--fake-module", default="tests.fakes", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.json_n, a.stream_n, a.rounds, a.warm = (200, 100, 4, 20) if q else (2000, 1000, 10, 200)
    a.wrk_seconds, a.wrk_warm = (2, 1) if q else (10, 2)
    a.chunks, a.interval = (3, 1.0) if q else (15, 1.0)
    a.streams = a.streams or (100 if q else 1000)
    a.skip = {s for s in a.skip.split(",") if s}
    return a


def log(msg):
    """Progress on stderr, so stdout carries only the table."""
    print(msg, file=sys.stderr, flush=True)


def raise_fd_limit():
    """Every held stream is a socket here and two in the gateway; children inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


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
        self.results = {"lat": {}, "rps": {}, "hold": {}, "skipped": {}}
        self.columns = ["direct", "aichat"] + (["litellm"] if args.litellm else [])
        self.fakes, self.litellm, self.env = {}, None, None
        self.litellm_version = None

    def start(self, server):
        """Remember a started server for the final stop."""
        self.started.append(server)
        return server

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
        if not servers.aichat_present():
            self.skip("aichat", "gunicorn.conf.py or wsgi.py missing at the repository root")
            return
        self.env = servers.aichat_env(self.tmp, self.fakes["fast"].port, a.database_url, a.workers)
        try:
            servers.migrate(self.tmp, self.env)
        except (servers.StartError, subprocess.TimeoutExpired) as e:
            self.skip("aichat", str(e))

    def skip(self, name, why):
        """Drop a column for the rest of the run and say why."""
        log(f"{name}: skipped: {why}")
        self.results["skipped"][name] = why.splitlines()[0][:200] if why else "failed"
        self.results["skipped"].setdefault(f"{name}_detail", why)

    def targets(self, shape):
        """Targets for one phase; aichat is (re)started pointing at that phase's fake."""
        fake = self.fakes[shape]
        out = [phases.Target("direct", fake.port, "bench-key", fake.pid)]
        gw = None
        if "aichat" not in self.results["skipped"]:
            self.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{fake.port}/v1"
            try:
                gw = self.start(servers.start_aichat(self.tmp, self.env, cpus=self.server_cpus))
                out.append(phases.Target("aichat", gw.port, "bench-key", gw.pid))
            except servers.StartError as e:
                self.skip("aichat", str(e))
        if self.litellm and "litellm" not in self.results["skipped"]:
            models = {"fast": "gpt-4o-mini", "slow": "bench-slow", "stream": "bench-stream"}
            out.append(phases.Target("litellm", self.litellm.port, "sk-bench-key", self.litellm.pid, models))
        return out, gw

    def phase(self, name, shape, fn):
        """Run one measurement with aichat started for it and stopped after."""
        if name in self.args.skip:
            return
        log(f"phase: {name}")
        targets, gw = self.targets(shape)
        try:
            fn(targets, gw)
        finally:
            if gw:
                gw.stop()
                self.started.remove(gw)

    def run(self):
        """All phases in order; the report is written even if a phase fails."""
        a, r = self.args, self.results
        if self.client_cpus:
            os.sched_setaffinity(0, self.client_cpus)  # wrk inherits it
        self.setup()

        def latency(targets, gw):
            proxy = gw.port if gw else None
            r["lat"] = phases.latency(targets, a.json_n, a.stream_n, a.rounds, a.warm, proxy, log)

        def throughput(targets, gw):
            r["rps"] = phases.throughput(targets, a.wrk_seconds, a.wrk_warm, 32, log)

        def streams(targets, gw):
            r["hold"] = phases.hold(targets, a.streams, a.chunks, a.chunks * a.interval, log)

        self.phase("latency", "fast", latency)
        if wrkrun.available():
            self.phase("throughput", "slow", throughput)
        else:
            log(wrkrun.INSTALL_HINT)
            r["rps_missing"] = wrkrun.INSTALL_HINT
        self.phase("streams", "stream", streams)


def notes(run, fd_limit, started, load0):
    """Methodology and conditions printed under the table."""
    a, r = run.args, run.results
    lat = r["lat"]
    lines = [
        f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} CPUs, "
        f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}; run took {time.monotonic() - started:.0f} s"
        + (" (--quick)" if a.quick else "") + (f"; skipped phases: {', '.join(sorted(a.skip))}" if a.skip else ""),
    ]
    if lat:
        lines += [
            f"- Latency: {a.json_n} JSON and {a.stream_n} stream requests per target at concurrency 1 after {a.warm} "
            f"warm-up each, in {a.rounds} interleaved rounds; overhead = gateway percentile − direct percentile.",
            "- CPU: utime+stime (+ reaped children) of the server's process tree from /proc, around the measured requests.",
        ]
    if r["rps"]:
        lines.append(f"- Throughput: wrk, 1 thread, 32 connections, {a.wrk_seconds} s after {a.wrk_warm} s warm-up; "
                     "upstream delay 50 ms; only 2xx answers count.")
    if r["hold"]:
        lines.append(f"- Streams: {a.streams} opened at once per target, {a.chunks} deltas 1 s apart; RSS summed over "
                     f"the server's process tree (pages shared after fork count once per process; PSS splits them), "
                     f"sampled every 0.5 s. "
                     f"FD limit {fd_limit}.")
    lines += [
        f"- aichat: gunicorn -c gunicorn.conf.py, AICHAT_WORKERS={a.workers or 'default'}, database "
        f"{'given by --database-url' if a.database_url else 'temporary SQLite file'}, usage logging on.",
        "- Fake upstream: tests.fakes, one process per upstream shape (not counted in any gateway's CPU or RSS).",
    ]
    if "client_cpu" in lat:
        lines.append(f"- Client (this script) during the latency phase: {lat['client_cpu'] * 100:.0f}% of a CPU, "
                     f"{lat['client_ms']:.2f} ms CPU per request (the same for every target, so it cancels out).")
    holds = ", ".join(f"{n} {h['client_cpu'] * 100:.0f}%" for n, h in r["hold"].items())
    if holds:
        lines.append(f"- Client CPU while holding streams (share of one CPU): {holds}.")
    shares = ", ".join(f"{n} {v['client_cpu'] * 100:.0f}%" for n, v in r["rps"].items() if "client_cpu" in v)
    if shares:
        lines.append(f"- wrk's own CPU use (share of one CPU): {shares}.")
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
        lines.append(f"- Throughput not measured: {r['rps_missing']}.")
    return lines


def main(argv=None):
    """Run everything, print the table, write bench/results/latest.md; exit 1 if aichat misses a target."""
    args = parse_args(argv)
    started, load0 = time.monotonic(), os.getloadavg()
    fd_limit = raise_fd_limit()
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
        report.table(r, run.columns, args.streams),
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
