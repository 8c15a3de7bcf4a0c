"""Hold many slow SSE streams open at once and check each one arrives whole."""
import asyncio
import os
import time

import proctree
from client import first_content_delta


async def _read_body(reader, headers):
    """Yield body pieces as they arrive, whatever the framing."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readline()).split(b";")[0], 16):
            yield (await reader.readexactly(size + 2))[:-2]
        return
    left = int(headers["content-length"]) if "content-length" in headers else None
    while left is None or left > 0:
        piece = await reader.read(65536 if left is None else min(left, 65536))
        if not piece:
            return
        if left is not None:
            left -= len(piece)
        yield piece


async def _one(raw, port, result, until_first=False):
    """One stream: connect, send, count content deltas until [DONE] (or only until the first)."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        writer.write(raw)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        result["head"] = time.perf_counter() - t0
        status = int(head[0].split(" ", 2)[1])
        if status != 200:
            result["error"] = f"HTTP {status}"
            return
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in head[1:] if ":" in l)}
        pending = b""
        async for piece in _read_body(reader, headers):
            pending += piece.replace(b"\r\n", b"\n")
            while (i := pending.find(b"\n\n")) >= 0:
                event, pending = pending[:i], pending[i + 2:]
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        result["done"] = True
                    elif first_content_delta(data):
                        result["deltas"] += 1
                        result.setdefault("first", time.perf_counter() - t0)
                        if until_first:
                            return
    finally:
        writer.close()


async def _guarded(raw, port, timeout, result, until_first=False):
    """Run one stream under a deadline; record why it failed, never raise."""
    try:
        await asyncio.wait_for(_one(raw, port, result, until_first), timeout)
    except asyncio.TimeoutError:
        result["error"] = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        result["error"] = type(e).__name__


def _open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def _hold(raw, port, count, timeout, server_pid, workers):
    results = [{"deltas": 0} for _ in range(count)]
    peak = {"rss": 0, "pss": 0, "idle_rss": proctree.rss_bytes(server_pid), "idle_pss": proctree.pss_bytes(server_pid),
            "fds": dict.fromkeys(workers, 0)}

    async def watch():
        # Sampling twice a second catches the plateau; streams last ~15 s.
        while True:
            peak["rss"] = max(peak["rss"], proctree.rss_bytes(server_pid))
            peak["pss"] = max(peak["pss"], proctree.pss_bytes(server_pid))
            # Open descriptors per process show how the accepted streams spread over the workers.
            for pid in workers:
                peak["fds"][pid] = max(peak["fds"][pid], _open_fds(pid))
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    t0 = time.perf_counter()
    await asyncio.gather(*(_guarded(raw, port, timeout, r) for r in results))
    wall = time.perf_counter() - t0
    watcher.cancel()
    return results, peak, wall


def warm(raw, port, count, timeout=30):
    """Open `count` streams at once and leave each at its first delta, so every worker has served some."""
    results = [{"deltas": 0} for _ in range(count)]

    async def go():
        await asyncio.gather(*(_guarded(raw, port, timeout, r, until_first=True) for r in results))

    asyncio.run(go())
    return sum(1 for r in results if "first" in r)


def _pct(values, p):
    """Nearest-rank percentile in seconds; None (never) counts as slower than any value."""
    s = sorted(values, key=lambda v: float("inf") if v is None else v)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] if s else None


def hold(raw, port, count, expected_deltas, timeout, server_pid, fake_pid=None):
    """Open `count` streams at once; summarise completions, failures, first-delta delays, peak memory and CPU.

    Also what the rest of the machine did meanwhile: CPU used by processes that are neither the
    server, its upstream nor this client (other work on a shared machine) shows in the spread.
    """
    workers = [p for p in proctree.tree(server_pid) if p != server_pid]
    w0 = [proctree.own_cpu_seconds(p) for p in workers]
    c0, s0, m0 = os.times(), proctree.cpu_seconds(server_pid), proctree.machine_busy_seconds()
    f0 = proctree.own_cpu_seconds(fake_pid) if fake_pid and fake_pid != server_pid else 0.0
    results, mem, wall = asyncio.run(_hold(raw, port, count, timeout, server_pid, workers))
    c1, s1, m1 = os.times(), proctree.cpu_seconds(server_pid), proctree.machine_busy_seconds()
    f1 = proctree.own_cpu_seconds(fake_pid) if fake_pid and fake_pid != server_pid else 0.0
    client = c1.user + c1.system - c0.user - c0.system
    others = (m1 - m0) - (s1 - s0) - (f1 - f0) - client
    complete = sum(1 for r in results if r.get("done") and r["deltas"] >= expected_deltas and "error" not in r)
    errors = {}
    for r in results:
        if "error" in r:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
        elif not (r.get("done") and r["deltas"] >= expected_deltas):
            errors["short"] = errors.get("short", 0) + 1
    firsts = [r.get("first") for r in results]
    heads = [r.get("head") for r in results]
    return {
        "count": count,
        "complete": complete,
        "failed": count - complete,
        "errors": errors,
        "first_p50": _pct(firsts, 50),
        "first_p90": _pct(firsts, 90),
        "worst_first": _pct(firsts, 100),
        "head_p50": _pct(heads, 50),
        "no_first": sum(1 for f in firsts if f is None),
        "peak_rss": mem["rss"],
        "peak_pss": mem["pss"],
        "idle_rss": mem["idle_rss"],
        "idle_pss": mem["idle_pss"],
        "peak_fds": [mem["fds"][p] for p in workers],
        "wall": wall,
        "server_cpu": s1 - s0,
        "worker_cpu": [round(proctree.own_cpu_seconds(p) - w, 2) for p, w in zip(workers, w0)],
        "client_cpu": client / wall,
        "others_cpu": max(others, 0.0) / wall,
    }
