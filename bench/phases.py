"""The measurements: one-at-a-time latency (+CPU), wrk at fixed concurrency, bursts of streams opened at once."""
import os
import statistics
import time
from dataclasses import dataclass, field

import client
import proctree
import streamhold
import wrkrun

PROMPT = [{"role": "user", "content": "Say hello to the benchmark."}]


@dataclass
class Target:
    """One way of reaching the fake: its port, key, model name per phase, and the process tree to meter."""

    name: str
    port: int
    key: str
    pid: int
    models: dict = field(default_factory=lambda: {"fast": "gpt-4o-mini", "slow": "gpt-4o-mini", "stream": "gpt-4o-mini"})

    def chat(self, phase, stream=False):
        """Raw request bytes for POST /v1/chat/completions."""
        body = {"model": self.models[phase], "messages": PROMPT}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return client.post(self.port, "/v1/chat/completions", body, self.key)

    def body(self, phase):
        """The JSON body wrk posts."""
        return {"model": self.models[phase], "messages": PROMPT}


def pct(values, p):
    """Nearest-rank percentile of a list of seconds, in milliseconds."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000


def _summary(lat, failures, err):
    return {"n": len(lat), "p50": pct(lat, 50), "p99": pct(lat, 99), "failed": failures, "error": err,
            "mean": statistics.fmean(lat) * 1000 if lat else None}


def _interleaved(targets, kinds, rounds, warm, log, label, cpu_kind=None):
    """Sequential samples of each kind on each target, interleaved by round.

    `kinds` maps a kind to (request bytes per target name (None: not for this target), SSE?, count).
    Interleaving short blocks of each target (rotating their order) spreads the shared machine's
    noise over all targets instead of landing on one of them. The server tree's CPU is metered
    around `cpu_kind`'s blocks only.
    """
    lat = {k: {t.name: [] for t in targets if raws.get(t.name)} for k, (raws, _, _) in kinds.items()}
    fails = {k: {n: [0, None] for n in names} for k, names in lat.items()}
    cpu = {t.name: 0.0 for t in targets}
    conns = {(n, k): client.Conn(next(t.port for t in targets if t.name == n)) for k in lat for n in lat[k]}
    for (n, k), conn in conns.items():
        raws, stream, _ = kinds[k]
        client.sample(conn, raws[n], warm, stream)
    c0, w0 = os.times(), time.perf_counter()
    for r in range(rounds):
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        for t in order:
            for k, (raws, stream, count) in kinds.items():
                if t.name not in lat[k]:
                    continue
                before = proctree.cpu_seconds(t.pid) if k == cpu_kind else None
                got, f, e = client.sample(conns[t.name, k], raws[t.name], count // rounds, stream)
                if before is not None:
                    cpu[t.name] += proctree.cpu_seconds(t.pid) - before
                lat[k][t.name] += got
                _count(fails[k][t.name], f, e)
        log(f"  {label} round {r + 1}/{rounds} done")
    c1, wall = os.times(), time.perf_counter() - w0
    for c in conns.values():
        c.close()
    out = {k: {n: _summary(lat[k][n], *fails[k][n]) for n in lat[k]} for k in lat}
    if cpu_kind:
        n_cpu = kinds[cpu_kind][2] // rounds * rounds
        out["cpu_ms"] = {n: cpu[n] * 1000 / n_cpu for n in lat[cpu_kind]}
    # The client's share of a CPU, and its cost per request, show whether it could be the bottleneck.
    out["client_cpu"] = (c1.user + c1.system - c0.user - c0.system) / wall
    n_all = sum(len(lat[k][n]) + fails[k][n][0] for k in lat for n in lat[k])
    out["client_ms"] = (c1.user + c1.system - c0.user - c0.system) * 1000 / max(n_all, 1)
    return out


def latency(targets, json_n, rounds, warm, proxy_port=None, log=print):
    """Concurrency-1 JSON latency and server CPU per JSON request (and aichat's ai-proxy endpoint)."""
    kinds = {"json": ({t.name: t.chat("fast") for t in targets}, False, json_n)}
    if proxy_port:
        # aichat's browser-facing endpoint, same prompt; compared with direct /v1 JSON.
        raw = client.post(proxy_port, "/api/v1/ai-proxy/chat", {"messages": PROMPT, "stream": False}, "bench-key")
        kinds["proxy"] = ({"aichat": raw}, False, json_n // 2)
    return _interleaved(targets, kinds, rounds, warm, log, "latency", cpu_kind="json")


def first_delta(targets, stream_n, rounds, warm, log=print):
    """Concurrency-1 stream first-delta time against the slow (50 ms) upstream."""
    kinds = {"ttfd": ({t.name: t.chat("slow", True) for t in targets}, True, stream_n)}
    return _interleaved(targets, kinds, rounds, warm, log, "first delta")


def _count(slot, failures, err):
    slot[0] += failures
    slot[1] = err or slot[1]


def concurrent(targets, phase, seconds, warm_seconds, connections, log=print):
    """wrk at fixed concurrency: requests per second, latency percentiles, server CPU per request."""
    out = {}
    for t in targets:
        url = f"http://127.0.0.1:{t.port}/v1/chat/completions"
        try:
            wrkrun.run(url, t.body(phase), warm_seconds, connections, key=t.key)
            out[t.name] = wrkrun.run(url, t.body(phase), seconds, connections, t.pid, key=t.key)
        except RuntimeError as e:
            out[t.name] = {"error": str(e)}
        got = out[t.name]
        log(f"  c={connections} {phase} {t.name}: {got.get('rps', 0):.0f} req/s, p99 {got.get('p99_ms', 0):.1f} ms")
    return out


def burst(targets, count, expected_deltas, stream_seconds, warm, fake_pid=None, log=print):
    """`count` streams opened at once per target, one target at a time, after `warm` warm-up streams."""
    out = {}
    for t in targets:
        raw = t.chat("stream", True)
        if warm:
            streamhold.warm(raw, t.port, warm)
            time.sleep(2)  # the warm-up streams are closed; let the servers settle
        # Generous deadline: the stream's own length plus time to open every connection.
        timeout = stream_seconds + 30 + count / 100
        out[t.name] = r = streamhold.hold(raw, t.port, count, expected_deltas, timeout, t.pid, fake_pid)
        log(f"  {count} streams {t.name}: {r['complete']}/{count} complete, first delta p50 "
            f"{(r['first_p50'] or 0):.2f} s, max {(r['worst_first'] or 0):.2f} s, peak RSS {r['peak_rss'] / 2**20:.0f} MB, "
            f"PSS {r['peak_pss'] / 2**20:.0f} MB, fds per worker {r['peak_fds']}, server CPU {r['server_cpu']:.1f} s "
            f"(per worker {r['worker_cpu']}), others' CPU {r['others_cpu'] * 100:.0f}% of one")
        time.sleep(1)  # let closed connections drain before the next target
    return out
