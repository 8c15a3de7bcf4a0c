"""The Prometheus metrics: what is counted, and how a scrape reads them.

Under gunicorn every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR and a
scrape adds them up across workers (gunicorn.conf.py sets the directory up). Without that
variable (flask run, tests) each app has its own registry, so many apps in one process do
not clash.
"""
from __future__ import annotations

import os

from aichat.gateway.breaker import CLOSED, HALF_OPEN, OPEN

# The circuit gauges' values; under several workers the scrape shows the highest (worst) one.
CIRCUIT_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
# Whole requests (a stream lasts as long as its answer) and single upstream attempts.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"  # the endpoint label of every URL no route matched: one series, not one per URL
# Callers choose model names (any gpt-… or gemini-… is passed on, and some OpenAI-compatible servers
# answer to any name), so past this many the token counters file new names under OTHER_MODEL.
MAX_MODEL_LABELS = 100
OTHER_MODEL = "other"


def multiprocess_dir() -> str | None:
    """prometheus_client's own variable: it decides how values are stored, so it decides here too."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Children:
    """A labelled metric's children, looked up once per label values (`labels()` takes a lock)."""

    __slots__ = ("metric", "cache")

    def __init__(self, metric):
        self.metric = metric
        self.cache: dict[tuple, object] = {}

    def __call__(self, *values):
        child = self.cache.get(values)
        if child is None:
            child = self.cache[values] = self.metric.labels(*values)
        return child


class Metrics:
    """Every aichat_* metric of one app, and the observations the app makes on them."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess_dir = multiprocess_dir()
        self.registry = registry = CollectorRegistry()
        self.requests = _Children(Counter(
            "aichat_requests", "HTTP requests answered, by Flask endpoint and status code.",
            ["endpoint", "status"], registry=registry))
        self.request_seconds = _Children(Histogram(
            "aichat_request_duration_seconds", "Time to answer a request; for a stream, until it ended.",
            ["endpoint"], buckets=DURATION_BUCKETS, registry=registry))
        # Per-attempt series: `upstream` is the upstream's name, `provider` its kind (openai, gemini, demo).
        self.attempts = _Children(Counter(
            "aichat_upstream_attempts", "Upstream calls, by upstream and outcome (success, error, cancelled).",
            ["upstream", "provider", "outcome"], registry=registry))
        self.upstream_errors = _Children(Counter(
            "aichat_upstream_errors", "Failed upstream calls, by upstream and error code.",
            ["upstream", "provider", "code"], registry=registry))
        self.failovers = _Children(Counter(
            "aichat_failovers", "Failed upstream calls that moved the request to another key or upstream.",
            ["upstream", "provider"], registry=registry))
        self.upstream_seconds = _Children(Histogram(
            "aichat_upstream_latency_seconds", "Duration of one upstream call, success or not.",
            ["upstream", "provider"], buckets=DURATION_BUCKETS, registry=registry))
        self.ttft_seconds = _Children(Histogram(
            "aichat_upstream_ttft_seconds", "Time to the first token of an upstream stream.",
            ["upstream", "provider"], buckets=TTFT_BUCKETS, registry=registry))
        self.tokens = _Children(Counter(
            "aichat_tokens", "Tokens, by upstream, served model and kind (prompt, completion, cached, reasoning).",
            ["upstream", "provider", "model", "kind"], registry=registry))
        self.cost = _Children(Counter(
            "aichat_cost", "Cost of priced upstream calls, counted when their usage rows are written.",
            ["currency"], registry=registry))
        self.usage_rows = _Children(Counter(
            "aichat_usage_rows", "Usage rows by what became of them: written, salvaged (written cut down), "
            "set_aside (refused even salvaged; kept in the spool's rejected file), spooled (left for a later "
            "writer), replayed (written from the spool), shed (lost: the queue was full or the spool failed).",
            ["outcome"], registry=registry))
        self.conversation_turns = _Children(Counter(
            "aichat_conversation_turns", "Conversation turns (a question and its answer) by what became of them: "
            "written, gone (the conversation was deleted meanwhile), lost (not written: logged).",
            ["outcome"], registry=registry))
        self.circuit = _Children(Gauge(
            "aichat_circuit_state", "An upstream's circuit: 0 closed, 1 half-open, 2 open (worst live worker).",
            ["upstream"], multiprocess_mode="livemax", registry=registry))
        self.key_circuit = _Children(Gauge(
            "aichat_key_circuit_state", "An upstream key's circuit: 0 closed, 1 half-open, 2 open (worst live worker).",
            ["upstream", "key"], multiprocess_mode="livemax", registry=registry))
        self.streams = Gauge("aichat_streams_in_flight", "SSE responses being sent now, all workers together.",
                             multiprocess_mode="livesum", registry=registry)
        self.dependency_up = _Children(Gauge(
            "aichat_dependency_up", "An optional dependency (redis): 1 reachable, 0 not, in the worst live worker; "
            "while 0, what uses it falls back to each process.", ["dependency"], multiprocess_mode="livemin",
            registry=registry))
        self.dependency_changes = _Children(Counter(
            "aichat_dependency_changes", "Times an optional dependency went down or came back, by new state.",
            ["dependency", "state"], registry=registry))
        self._models: set[str] = set()  # the model label values in use
        self._watched: set[int] = set()  # the breakers already followed (the gateway may be rebuilt)

    # --- observations ---------------------------------------------------------

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests(endpoint, status).inc()
        self.request_seconds(endpoint).observe(seconds)

    def attempt(self, record) -> None:
        """One upstream attempt, from the record the gateway hands on (an AttemptRecord)."""
        upstream, provider = record.upstream, record.provider
        self.attempts(upstream, provider, record.status).inc()
        if record.error_code:
            self.upstream_errors(upstream, provider, record.error_code).inc()
        if record.failed_over:
            self.failovers(upstream, provider).inc()
        self.upstream_seconds(upstream, provider).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft_seconds(upstream, provider).observe(record.ttft_ms / 1000)
        model = None
        for kind, count in (("prompt", record.prompt_tokens), ("completion", record.completion_tokens),
                            ("cached", record.cached_tokens), ("reasoning", record.reasoning_tokens)):
            if count:
                model = model or self._model_label(record.model_served or "")
                self.tokens(upstream, provider, model, kind).inc(count)

    def _model_label(self, model: str) -> str:
        if model not in self._models:
            if len(self._models) >= MAX_MODEL_LABELS:
                return OTHER_MODEL
            self._models.add(model)
        return model

    def written(self, rows: list[dict]) -> None:
        """Cost of usage rows now in the database (priced, or left unpriced without a currency)."""
        for row in rows:
            cost, currency = row.get("cost"), row.get("currency")
            if cost and currency:
                self.cost(currency).inc(float(cost))

    def usage(self, outcome: str, count: int) -> None:
        """Usage rows that met `outcome` (see aichat_usage_rows); called off the request path, or when shed."""
        if count:
            self.usage_rows(outcome).inc(count)

    def turns(self, outcome: str, count: int) -> None:
        """Conversation turns that met `outcome` (see aichat_conversation_turns); off the request path."""
        if count:
            self.conversation_turns(outcome).inc(count)

    def watch_circuits(self, upstreams) -> None:
        """Show every upstream's and key's circuit, and follow their changes from now on."""
        for upstream in upstreams:
            self._watch(upstream.breaker, self.circuit(upstream.name))
            for key in upstream.keys:
                self._watch(key.breaker, self.key_circuit(upstream.name, key.label))

    def _watch(self, breaker, gauge) -> None:
        gauge.set(CIRCUIT_VALUES[breaker.state])
        if id(breaker) not in self._watched:  # breakers outlive the gateway: follow each one once
            self._watched.add(id(breaker))
            breaker.add_listener(lambda state: gauge.set(CIRCUIT_VALUES[state]))

    def watch_dependency(self, dependency) -> None:
        """Show whether an optional dependency is reachable, and count each change."""
        up = self.dependency_up(dependency.name)
        up.set(1 if dependency.up else 0)

        def changed(now_up: bool) -> None:
            up.set(1 if now_up else 0)
            self.dependency_changes(dependency.name, "up" if now_up else "down").inc()

        dependency.add_listener(changed)

    # --- scraping -------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format: every worker's values under gunicorn, this app's otherwise."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, self.multiprocess_dir)
        return generate_latest(registry)
