"""The results table: one row per metric, one column per way of serving, aichat as a ratio of the relay."""

MB = 2 ** 20


def _ms(v):
    return f"{v:.2f}"


def _s(v):
    return f"{v:.2f}"


def _mb(v):
    return f"{v / MB:.0f}"


def _whole(v):
    return f"{v:.0f}"


def _rel(limit):
    """A target on the ratio aichat ÷ relay."""
    return lambda a, relay: a is not None and relay and a / relay <= limit


def _abs(limit):
    """A target on aichat's own value."""
    return lambda a, relay: a is not None and a <= limit


class Row:
    """One metric: how to read it for a column, how to print it, and aichat's target if it has one."""

    def __init__(self, metric, get, fmt=_ms, ratio=True, target="", check=None, baseline=True):
        self.metric, self.get, self.fmt, self.ratio = metric, get, fmt, ratio
        self.target, self.check, self.baseline = target, check, baseline

    def value(self, results, name):
        """The number for one column, or None."""
        if not self.baseline and name == "direct":
            return None
        try:
            return self.get(results, name)
        except (KeyError, TypeError, ZeroDivisionError):
            return None


def _lat(group, kind, p):
    return lambda r, n: r[group][kind][n][p]


def _over(group, kind, p, base_kind=None):
    """Percentile minus direct's at the same percentile."""
    def get(r, n):
        return r[group][kind][n][p] - r[group][base_kind or kind]["direct"][p]
    return get


def _wrk(group, field):
    return lambda r, n: r[group][n][field]


def _burst(count, field, scale=1.0):
    return lambda r, n: r["bursts"][count][n][field] * scale


def _rows(results):
    rows = [
        Row("JSON latency p50, c=1 (ms)", _lat("lat", "json", "p50")),
        Row("JSON latency p99, c=1 (ms)", _lat("lat", "json", "p99")),
        Row("JSON overhead over direct p50, c=1 (ms)", _over("lat", "json", "p50"), baseline=False),
        Row("Server CPU per JSON request, c=1 (ms)", lambda r, n: r["lat"]["cpu_ms"][n], baseline=False,
            target="≤ 1.9× relay", check=_rel(1.9)),
    ]
    if results["lat"].get("proxy", {}).get("aichat", {}).get("n"):
        rows.append(Row("ai-proxy JSON overhead over direct /v1 p50, c=1 (ms)",
                        _over("lat", "proxy", "p50", "json"), ratio=False, baseline=False))
    rows += [
        Row("JSON c=32, upstream 0 ms: p50 (ms)", _wrk("c32", "p50_ms")),
        Row("JSON c=32, upstream 0 ms: p99 (ms)", _wrk("c32", "p99_ms"), target="≤ 1.5× relay", check=_rel(1.5)),
        Row("JSON c=32, upstream 0 ms: requests/s", _wrk("c32", "rps"), _whole),
        Row("Server CPU per JSON request, c=32 (ms)", _wrk("c32", "server_cpu_ms"), baseline=False),
        Row("Stream first delta p50, c=1, upstream 50 ms (ms)", _lat("ttfd", "ttfd", "p50")),
        Row("Stream first-delta overhead over direct p50 (ms)", _over("ttfd", "ttfd", "p50"), baseline=False,
            target="≤ 3", check=_abs(3)),
        Row("Stream first-delta overhead over direct p99 (ms)", _over("ttfd", "ttfd", "p99"), baseline=False),
        Row("JSON c=32, upstream 50 ms: requests/s", _wrk("rps", "rps"), _whole),
    ]
    for count in sorted(results.get("bursts", {})):
        big = f"{count:,} streams at once"
        rows += [
            Row(f"{big}: first delta p50 (s)", _burst(count, "first_p50"), _s, target="≤ 1.5× relay", check=_rel(1.5)),
            Row(f"{big}: first delta p90 (s)", _burst(count, "first_p90"), _s),
            Row(f"{big}: first delta max (s)", _burst(count, "worst_first"), _s),
            Row(f"{big}: complete", _burst(count, "complete"), _whole, ratio=False),
            Row(f"{big}: peak RSS, process tree (MB)", _burst(count, "peak_rss"), _mb, baseline=False,
                **({"target": "≤ 300", "check": _abs(300 * MB)} if count == 1000 else {})),
            Row(f"{big}: peak PSS, process tree (MB)", _burst(count, "peak_pss"), _mb, baseline=False,
                **({"target": "≤ 200", "check": _abs(200 * MB)} if count == 1000 else {})),
            Row(f"{big}: server CPU per stream (ms)", _burst(count, "server_cpu", 1000 / count), baseline=False),
        ]
    return rows


def _cell(results, row, name):
    if name in results.get("skipped", {}):
        return "not run"
    v = row.value(results, name)
    return "" if v is None and not row.baseline and name == "direct" else ("—" if v is None else row.fmt(v))


def table(results, columns):
    """Markdown table with aichat ÷ relay and aichat's verdict against its target."""
    head = ["metric", *columns, "aichat ÷ relay", "target", "aichat"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
    for row in _rows(results):
        a, relay = row.value(results, "aichat"), row.value(results, "relay")
        if a is None and relay is None and all(row.value(results, n) is None for n in columns):
            continue  # a phase that did not run
        ratio = f"{a / relay:.2f}×" if row.ratio and a is not None and relay else ""
        verdict = ""
        if row.check:
            verdict = "not run" if a is None else ("pass" if row.check(a, relay) else "**miss**")
        lines.append("| " + " | ".join([row.metric, *(_cell(results, row, n) for n in columns), ratio,
                                         row.target, verdict]) + " |")
    return "\n".join(lines)


def failures(results, columns):
    """Lines naming every request failure, so a fast-but-failing target cannot look good."""
    out = []
    for group, kind, label in (("lat", "json", "JSON"), ("lat", "proxy", "ai-proxy"), ("ttfd", "ttfd", "stream")):
        for name, s in results[group].get(kind, {}).items():
            if s["failed"]:
                out.append(f"- {name} {label}: {s['failed']} failed requests (last: {s['error']})")
    for group in ("c32", "rps"):
        for name, r in results.get(group, {}).items():
            if r.get("error"):
                out.append(f"- {name} {group}: {r['error'][:300]}")
            elif r.get("errors"):
                out.append(f"- {name} {group}: {r['errors']} of {r['requests']} requests failed (status/socket)")
    for count, by_name in results.get("bursts", {}).items():
        for name, h in by_name.items():
            if h["errors"]:
                out.append(f"- {name}, {count} streams: {h['errors']}")
    for name, why in results.get("skipped", {}).items():
        if name in columns:
            out.append(f"- {name} not run: {why}")
    return out
