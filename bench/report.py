"""The results table: one row per metric, one column per way of serving, aichat checked against its target."""

MB = 2 ** 20


def _ms(v):
    return "—" if v is None else f"{v:.2f}"


def _cell(results, name, get, fmt=_ms):
    """Format one measurement, or say why there is none."""
    if name in results.get("skipped", {}):
        return "not run"
    try:
        v = get(results, name)
    except (KeyError, TypeError):
        return "—"
    return fmt(v) if v is not None else "—"


def _over(kind, p):
    """Overhead over direct for a latency kind at a percentile."""
    def get(r, name):
        g, d = r["lat"][kind][name][p], r["lat"]["json" if kind == "proxy" else kind]["direct"][p]
        return None if g is None or d is None else g - d
    return get


def _lat(kind, p):
    return lambda r, name: r["lat"][kind][name][p]


def _ratio(r, name):
    return r["rps"][name]["rps"] / r["rps"]["direct"]["rps"]


def _streams_ok(r, name):
    h = r["hold"][name]
    if h["count"] < 1000:
        return None  # a smaller run says nothing about the 1,000-stream target
    return h["complete"] >= 1000 and h["peak_rss"] < 300 * MB


def _worst(h):
    """Slowest first delta among the streams that got one, and how many never did."""
    worst = "—" if h["worst_first"] is None else f"{h['worst_first'] * 1000:.0f}"
    return worst + (f" ({h['no_first']} never)" if h["no_first"] else "")


def _rows(streams):
    """(metric, getter, formatter, target text, check on the aichat value or None)."""
    le = lambda limit: (lambda v: v is not None and v <= limit)
    return [
        ("JSON latency p50, c=1 (ms)", _lat("json", "p50"), _ms, "", None),
        ("JSON latency p99, c=1 (ms)", _lat("json", "p99"), _ms, "", None),
        ("JSON overhead p50 (ms)", _over("json", "p50"), _ms, "≤ 3", le(3)),
        ("JSON overhead p99 (ms)", _over("json", "p99"), _ms, "≤ 6", le(6)),
        ("Stream first delta p50 (ms)", _lat("ttfd", "p50"), _ms, "", None),
        ("Stream first delta p99 (ms)", _lat("ttfd", "p99"), _ms, "", None),
        ("Stream first-delta overhead p50 (ms)", _over("ttfd", "p50"), _ms, "≤ 4", le(4)),
        ("Stream first-delta overhead p99 (ms)", _over("ttfd", "p99"), _ms, "", None),
        ("ai-proxy JSON overhead p50 (ms)", _over("proxy", "p50"), _ms, "", None),
        ("ai-proxy JSON overhead p99 (ms)", _over("proxy", "p99"), _ms, "", None),
        ("Throughput, c=32, 50 ms upstream (req/s)", lambda r, n: r["rps"][n]["rps"], lambda v: f"{v:.0f}", "", None),
        ("Throughput ratio vs direct", _ratio, lambda v: f"{v:.2f}", "≥ 0.8", lambda v: v is not None and v >= 0.8),
        ("Server CPU per JSON request, c=1 (ms)", lambda r, n: r["lat"]["cpu_ms"][n], _ms, "≤ 2.5", le(2.5)),
        ("Server CPU per JSON request, c=32 (ms)", lambda r, n: r["rps"][n]["server_cpu_ms"], _ms, "", None),
        (f"Streams complete (of {streams} at once, 1 delta/s)", lambda r, n: r["hold"][n]["complete"], str, "", None),
        ("Streams failed or timed out", lambda r, n: r["hold"][n]["failed"], str, "", None),
        ("Worst first delta while holding (ms)", lambda r, n: _worst(r["hold"][n]), str, "", None),
        ("Peak RSS of process tree (MB)", lambda r, n: r["hold"][n]["peak_rss"] / MB, lambda v: f"{v:.0f}", "", None),
        ("RSS before the streams opened (MB)", lambda r, n: r["hold"][n]["idle_rss"] / MB, lambda v: f"{v:.0f}", "", None),
        ("Peak PSS of process tree (MB)", lambda r, n: r["hold"][n]["peak_pss"] / MB, lambda v: f"{v:.0f}", "", None),
        ("≥ 1,000 streams in < 300 MB", _streams_ok, lambda v: "yes" if v else "no", "yes", lambda v: v is True),
    ]


def table(results, columns, streams):
    """Markdown table; direct cells of overhead rows are blank since direct is the baseline."""
    head = ["metric", *columns, "target", "aichat"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric, get, fmt, target, check in _rows(streams):
        if "ai-proxy" in metric and not results["lat"].get("proxy", {}).get("aichat", {}).get("n"):
            continue
        cells = []
        for name in columns:
            baseline_only = name == "direct" and ("overhead" in metric or "ratio" in metric or "CPU" in metric)
            cells.append("" if baseline_only else _cell(results, name, get, fmt))
        verdict = ""
        if check and "aichat" in columns:
            if "aichat" in results.get("skipped", {}):
                verdict = "not run"
            elif metric.startswith("≥ 1,000") and streams < 1000:
                verdict = "n/a (< 1,000 streams)"
            else:
                try:
                    verdict = "pass" if check(get(results, "aichat")) else "**miss**"
                except (KeyError, TypeError, ZeroDivisionError):
                    verdict = "**miss**"
        lines.append("| " + " | ".join([metric, *cells, target, verdict]) + " |")
    return "\n".join(lines)


def failures(results, columns):
    """Lines naming every request failure, so a fast-but-failing target cannot look good."""
    out = []
    for kind, label in (("json", "JSON"), ("ttfd", "stream"), ("proxy", "ai-proxy")):
        for name, s in results["lat"].get(kind, {}).items():
            if s["failed"]:
                out.append(f"- {name} {label}: {s['failed']} failed requests (last: {s['error']})")
    for name, r in results.get("rps", {}).items():
        if r.get("error"):
            out.append(f"- {name} throughput: {r['error'][:300]}")
        elif r.get("errors"):
            out.append(f"- {name} throughput: {r['errors']} of {r['requests']} requests failed (status/socket)")
    for name, h in results.get("hold", {}).items():
        if h["errors"]:
            out.append(f"- {name} held streams: {h['errors']}")
    for name, why in results.get("skipped", {}).items():
        if name in columns:
            out.append(f"- {name} not run: {why}")
    return out
