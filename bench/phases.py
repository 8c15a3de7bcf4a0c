"""The three measurements: one-at-a-time latency (+CPU), throughput at concurrency 32, many held streams."""
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


def latency(targets, json_n, stream_n, rounds, warm, proxy_port=None, log=print):
    """Concurrency-1 JSON latency, stream first-delta time and CPU per JSON request, interleaved by round.

    Interleaving short blocks of each target (rotating their order) spreads the
    shared machine's noise over all targets instead of landing on one of them.
    """
    kinds = {"json": False, "ttfd": True}
    lat = {k: {t.name: [] for t in targets} for k in (*kinds, "proxy")}
    fails = {k: {t.name: [0, None] for t in targets} for k in (*kinds, "proxy")}
    cpu = {t.name: 0.0 for t in targets}
    conns = {(t.name, k): client.Conn(t.port) for t in targets for k in (*kinds, "proxy")}
    proxy_raw = None
    if proxy_port:
        # aichat's browser-facing endpoint, same prompt; compared with direct /v1 JSON.
        proxy_raw = client.post(proxy_port, "/api/v1/ai-proxy/chat", {"messages": PROMPT, "stream": False}, "bench-key")
    for t in targets:
        for kind, stream in kinds.items():
            client.sample(conns[t.name, kind], t.chat("fast", stream), warm, stream)
        if proxy_raw and t.name == "aichat":
            client.sample(conns[t.name, "proxy"], proxy_raw, warm // 2 or 1)
    c0, w0 = os.times(), time.perf_counter()
    for r in range(rounds):
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        for t in order:
            before = proctree.cpu_seconds(t.pid)
            got, f, e = client.sample(conns[t.name, "json"], t.chat("fast"), json_n // rounds)
            cpu[t.name] += proctree.cpu_seconds(t.pid) - before
            lat["json"][t.name] += got
            _count(fails["json"][t.name], f, e)
            got, f, e = client.sample(conns[t.name, "ttfd"], t.chat("fast", True), stream_n // rounds, True)
            lat["ttfd"][t.name] += got
            _count(fails["ttfd"][t.name], f, e)
            if proxy_raw and t.name == "aichat":
                got, f, e = client.sample(conns[t.name, "proxy"], proxy_raw, stream_n // rounds)
                lat["proxy"][t.name] += got
                _count(fails["proxy"][t.name], f, e)
        log(f"  latency round {r + 1}/{rounds} done")
    c1, wall = os.times(), time.perf_counter() - w0
    for c in conns.values():
        c.close()
    out = {k: {n: _summary(lat[k][n], *fails[k][n]) for n in lat[k]} for k in lat}
    n_json = {t.name: json_n // rounds * rounds for t in targets}
    out["cpu_ms"] = {n: cpu[n] * 1000 / n_json[n] for n in cpu}
    # The client's share of a CPU, and its cost per request, show whether it could be the bottleneck.
    out["client_cpu"] = (c1.user + c1.system - c0.user - c0.system) / wall
    n_all = sum(len(lat[k][n]) + fails[k][n][0] for k in lat for n in lat[k])
    out["client_ms"] = (c1.user + c1.system - c0.user - c0.system) * 1000 / max(n_all, 1)
    return out


def _count(slot, failures, err):
    slot[0] += failures
    slot[1] = err or slot[1]


def throughput(targets, seconds, warm_seconds, connections, log=print):
    """Requests per second with wrk at fixed concurrency against the slow (50 ms) upstream."""
    out = {}
    for t in targets:
        url = f"http://127.0.0.1:{t.port}/v1/chat/completions"
        try:
            wrkrun.run(url, t.body("slow"), warm_seconds, connections, key=t.key)
            out[t.name] = wrkrun.run(url, t.body("slow"), seconds, connections, t.pid, key=t.key)
        except RuntimeError as e:
            out[t.name] = {"error": str(e)}
        log(f"  throughput {t.name}: {out[t.name].get('rps', 0):.0f} req/s")
    return out


def hold(targets, count, expected_deltas, stream_seconds, log=print):
    """`count` concurrent slow streams per target, one target at a time."""
    out = {}
    for t in targets:
        # Generous deadline: the stream's own length plus time to open every connection.
        timeout = stream_seconds + 30 + count / 100
        out[t.name] = streamhold.hold(t.chat("stream", True), t.port, count, expected_deltas, timeout, t.pid)
        r = out[t.name]
        log(f"  streams {t.name}: {r['complete']}/{count} complete, peak RSS {r['peak_rss'] / 2**20:.0f} MB")
        time.sleep(1)  # let closed connections drain before the next target
    return out
