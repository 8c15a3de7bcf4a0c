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


async def _one(raw, port, result):
    """One stream: connect, send, count content deltas until [DONE]."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        writer.write(raw)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
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
    finally:
        writer.close()


async def _guarded(raw, port, timeout, result):
    """Run one stream under a deadline; record why it failed, never raise."""
    try:
        await asyncio.wait_for(_one(raw, port, result), timeout)
    except asyncio.TimeoutError:
        result["error"] = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        result["error"] = type(e).__name__


async def _hold(raw, port, count, timeout, server_pid):
    results = [{"deltas": 0} for _ in range(count)]
    peak = {"rss": 0, "pss": 0, "idle_rss": proctree.rss_bytes(server_pid), "idle_pss": proctree.pss_bytes(server_pid)}

    async def watch():
        # Sampling twice a second catches the plateau; streams last ~15 s.
        while True:
            peak["rss"] = max(peak["rss"], proctree.rss_bytes(server_pid))
            peak["pss"] = max(peak["pss"], proctree.pss_bytes(server_pid))
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    t0 = time.perf_counter()
    await asyncio.gather(*(_guarded(raw, port, timeout, r) for r in results))
    wall = time.perf_counter() - t0
    watcher.cancel()
    return results, peak, wall


def hold(raw, port, count, expected_deltas, timeout, server_pid):
    """Open `count` streams at once; summarise completions, failures, first-delta delay and peak RSS."""
    c0 = os.times()
    results, mem, wall = asyncio.run(_hold(raw, port, count, timeout, server_pid))
    c1 = os.times()
    complete = sum(1 for r in results if r.get("done") and r["deltas"] >= expected_deltas and "error" not in r)
    errors = {}
    for r in results:
        if "error" in r:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
        elif not (r.get("done") and r["deltas"] >= expected_deltas):
            errors["short"] = errors.get("short", 0) + 1
    firsts = [r["first"] for r in results if "first" in r]
    return {
        "count": count,
        "complete": complete,
        "failed": count - complete,
        "errors": errors,
        "worst_first": max(firsts) if firsts else None,
        "no_first": count - len(firsts),
        "peak_rss": mem["rss"],
        "peak_pss": mem["pss"],
        "idle_rss": mem["idle_rss"],
        "idle_pss": mem["idle_pss"],
        "wall": wall,
        "client_cpu": (c1.user + c1.system - c0.user - c0.system) / wall,
    }
