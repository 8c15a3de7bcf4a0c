"""Throughput with wrk: a C load generator, so the client is not what saturates 2 cores."""
import json
import os
import shutil
import subprocess
import time

import proctree

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post.lua")
INSTALL_HINT = "wrk is not installed; on Debian/Ubuntu: apt-get update && apt-get install -y wrk"


def available():
    """Path of the wrk binary, or None."""
    return shutil.which("wrk")


def run(url, body, seconds, connections, server_pid=None, key="bench-key"):
    """Run wrk once; return rps, errors, latency percentiles, wrk's CPU share and the server's CPU per request."""
    env = dict(os.environ, BENCH_BODY=json.dumps(body), BENCH_KEY=key)
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", "-s", LUA, url]
    cpu0 = proctree.cpu_seconds(server_pid) if server_pid else None
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace")
    # wait4 gives wrk's own CPU time, to show whether the client was saturated.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    cpu1 = proctree.cpu_seconds(server_pid) if server_pid else None
    line = next((l for l in out.splitlines() if l.startswith("BENCH ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-500:]}")
    s = json.loads(line[6:])
    errors = s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"]
    good = max(s["requests"] - errors, 0)
    return {
        "rps": good / (s["duration_us"] / 1e6),
        "requests": s["requests"],
        "errors": errors,
        "p50_ms": s["p50_us"] / 1000,
        "p99_ms": s["p99_us"] / 1000,
        "client_cpu": (usage.ru_utime + usage.ru_stime) / wall,
        "server_cpu_ms": (cpu1 - cpu0) * 1000 / s["requests"] if server_pid and s["requests"] else None,
    }
