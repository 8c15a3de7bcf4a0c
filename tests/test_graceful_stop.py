"""Graceful stop: SIGTERM while streams and JSON calls are in flight, against a live gunicorn."""
from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import openai
import requests

from tests.conftest import CLIENT_KEY, GEMINI_KEYS, usage_rows
from aichat.runtime import runtime_of

STOP_DEADLINE = 5.0  # the short streams (2 s) finish well inside it, also on a busy machine
GRACEFUL_TIMEOUT = 13
MARGIN = 3.0  # the deadline is noticed at once; this covers delivery and a busy machine
MESSAGES = [{"role": "user", "content": "hi"}]

# What the fake upstream does for each kind of call.
BEHAVIOURS = {
    "short": {"text": "one two three four five six seven eight nine ten", "chunk_interval": 0.2},
    "steady": {"text": " ".join(["word"] * 300), "chunk_interval": 0.1},
    # The first delta, then nothing for a minute: only a wake-up can end this one at the deadline.
    "silent": {"chunks": ["first", " second", " third"], "chunk_interval": 60.0},
    "json": {"text": "a slow answer", "delay": 2.5},
    # Headers only after a minute: past the stop deadline and the graceful timeout.
    "late-json": {"text": "too late", "delay": 60.0},
}
JSON_KINDS = ("json", "late-json")


@dataclass
class Call:
    kind: str  # a key of BEHAVIOURS
    surface: str  # "api" (/api/v1/ai-proxy/chat), "v1" (/v1/chat/completions) or "sdk" (/v1 through openai)
    request_id: str
    status: int | None = None
    headers: dict = field(default_factory=dict)  # the response's, case-insensitive
    events: list = field(default_factory=list)  # (monotonic time, event name, data)
    body: str = ""
    ended_at: float | None = None
    failure: str | None = None
    sdk_error: openai.APIStatusError | None = None  # what the SDK raised ("sdk" calls)

    @property
    def stream(self) -> bool:
        return self.kind not in JSON_KINDS

    def run(self, base: str) -> None:
        try:
            self._run(base)
        except Exception as exc:  # noqa: BLE001 - reported by the test's assertions
            self.failure = repr(exc)
        self.ended_at = time.monotonic()

    def _run(self, base: str) -> None:
        if self.surface == "sdk":
            self._run_sdk(base)
            return
        headers = {"X-Request-ID": self.request_id}
        if self.surface == "v1":
            url, body = base + "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}
            headers["Authorization"] = f"Bearer {CLIENT_KEY}"
        else:
            url, body = base + "/api/v1/ai-proxy/chat", {"model": "gpt-4o-mini", "messages": MESSAGES,
                                                         "suggestions": False}
        body["stream"] = self.stream
        with requests.post(url, json=body, headers=headers, stream=True, timeout=30) as resp:
            self.status = resp.status_code
            self.headers = resp.headers
            if not self.stream:
                self.body = resp.text
                return
            event = "message"
            for line in resp.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: "):
                    data = line[len("data: "):]
                    self.events.append((time.monotonic(), event, data if data == "[DONE]" else json.loads(data)))
                    event = "message"

    def _run_sdk(self, base: str) -> None:
        """A JSON call through the official SDK (no retries): its answer, or the error it raised."""
        client = openai.OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=MESSAGES, extra_headers={"X-Request-ID": self.request_id})
            response = raw.http_response
        except openai.APIStatusError as err:
            response = err.response
            self.sdk_error = err
        finally:
            client.close()
        self.status, self.headers, self.body = response.status_code, response.headers, response.text

    def completed(self) -> bool:
        if not self.stream:
            return self.status == 200 and "slow answer" in self.body
        last = self.events[-1][1:] if self.events else (None, None)
        return last == ("done", last[1]) if self.surface == "api" else last == ("message", "[DONE]")

    def shutdown_error(self) -> dict | None:
        """The error the stream ended with, if it ended with one."""
        if not self.events:
            return None
        _, event, data = self.events[-1]
        if self.surface == "api" and event == "error":
            return data["error"]
        if self.surface == "v1" and isinstance(data, dict) and "error" in data:
            return data["error"]
        return None


def _start(base, fake_openai, calls: list[Call]) -> list[threading.Thread]:
    """Start the calls one by one, so each takes the upstream behaviour planned for it."""
    threads = []
    for i, call in enumerate(calls, 1):
        fake_openai.plan(**BEHAVIOURS[call.kind])
        thread = threading.Thread(target=call.run, args=(base,))
        thread.start()
        threads.append(thread)
        assert fake_openai.wait_until(lambda: fake_openai.pending_plans == 0 and len(_chats(fake_openai)) >= i,
                                      timeout=10), f"upstream never saw call {call.request_id}"
    return threads


def _chats(fake_openai) -> list:
    return [r for r in list(fake_openai.requests) if r.path.endswith("/chat/completions")]


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_during_20_streams_ends_each_one_by_the_deadline_with_its_usage_row(serve_gunicorn, fake_openai):
    """SIGTERM with 20 streams open (short, steady, silent upstream; both surfaces), JSON calls in flight and
    an idle keep-alive connection: does each stream complete or end with server_shutting_down by the deadline,
    with one usage row each, and does the server refuse new connections and exit 0 by itself?"""
    server = serve_gunicorn(AICHAT_STOP_DEADLINE=STOP_DEADLINE, AICHAT_GRACEFUL_TIMEOUT=GRACEFUL_TIMEOUT)
    plan = ([("silent", "api")] * 4 + [("silent", "v1")] * 2 + [("steady", "api")] * 5 + [("steady", "v1")] * 2
            + [("json", "api"), ("json", "v1")] + [("short", "api")] * 5 + [("short", "v1")] * 2)
    calls = [Call(kind, surface, f"stop-{i:02d}-{kind}-{surface}") for i, (kind, surface) in enumerate(plan)]
    assert sum(c.stream for c in calls) == 20

    threads = _start(server.base, fake_openai, calls)
    idle = requests.Session()  # a keep-alive connection with nothing more to ask (closed after `keepalive`)
    assert idle.get(server.base + "/health", timeout=5).status_code == 200
    assert fake_openai.wait_until(lambda: fake_openai.open_streams >= 20, timeout=10)
    sigterm_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)

    # New connections are refused while the streams in flight still run.
    host, port = server.base.removeprefix("http://").split(":")
    refused = False
    for _ in range(50):
        if _refused(host, int(port)):
            refused = True
            break
        time.sleep(0.1)
    assert refused and time.monotonic() < sigterm_at + STOP_DEADLINE, "the server kept accepting after SIGTERM"

    for thread in threads:
        thread.join(GRACEFUL_TIMEOUT + MARGIN)
    assert server.proc.wait(GRACEFUL_TIMEOUT) == 0
    idle.close()
    assert [c.failure for c in calls if c.failure] == []

    for call in calls:
        assert call.status == 200, call
        assert call.ended_at > sigterm_at, f"{call.request_id} was not in flight at SIGTERM"
        if call.kind in ("short", "json"):
            assert call.completed(), f"{call.request_id} should have completed: {call.events[-1:]}"
            continue
        error = call.shutdown_error()
        assert error and error["code"] == "server_shutting_down", f"{call.request_id}: {call.events[-1:]}"
        assert "stop deadline" in error["message"]
        # Cut at the deadline, not before it, and not long after.
        assert sigterm_at + STOP_DEADLINE <= call.ended_at <= sigterm_at + STOP_DEADLINE + MARGIN
        if call.kind == "steady":
            assert any(t > sigterm_at + 1 for t, _, _ in call.events), "deltas stopped flowing at SIGTERM"

    rows = {r["request_id"]: r for r in usage_rows(server.reader, at_least=len(calls))}
    assert sorted(rows) == sorted(c.request_id for c in calls), "one usage row per call"
    for call in calls:
        row = rows[call.request_id]
        if call.kind in ("short", "json"):
            assert row["status"] == "success", row
        else:
            assert (row["status"], row["error_code"]) == ("error", "server_shutting_down"), row
        assert row["completion_tokens"] > 0, "the tokens delivered so far are counted"

    output = server.output()
    assert "Worker graceful timeout" not in output and "Traceback" not in output
    # The six silent streams end only through the deadline's wake; the seven steady ones also check the deadline
    # between deltas and, on a busy machine, may end themselves before the wake counts them.
    cut = re.search(r"ending (\d+) streams still open", output)
    assert cut and 6 <= int(cut.group(1)) <= 13, output[-2000:]


def test_sigterm_answers_json_calls_still_waiting_on_upstream_at_the_deadline_with_a_503(serve_gunicorn, fake_openai,
                                                                                         fake_gemini):
    """SIGTERM while JSON calls wait on an upstream that answers only after the deadline (/api, /v1 and the
    official SDK), beside JSON calls that finish before it: does each late one get a 503 server_shutting_down in
    its surface's shape with Retry-After at the deadline, one error usage row and no failover (not to the other
    key, not to Gemini), while the early ones succeed, and does the server exit 0 by itself?"""
    server = serve_gunicorn(AICHAT_STOP_DEADLINE=STOP_DEADLINE, AICHAT_GRACEFUL_TIMEOUT=GRACEFUL_TIMEOUT,
                            GEMINI_API_KEY=",".join(GEMINI_KEYS), GEMINI_BASE_URL=fake_gemini.base_url,
                            AICHAT_PROVIDER_ORDER="openai,gemini")
    plan = ([("late-json", "api")] * 2 + [("late-json", "v1")] * 2 + [("late-json", "sdk")]
            + [("json", "api"), ("json", "v1"), ("json", "sdk")])
    calls = [Call(kind, surface, f"stop-{i:02d}-{kind}-{surface}") for i, (kind, surface) in enumerate(plan)]
    late = [c for c in calls if c.kind == "late-json"]

    threads = _start(server.base, fake_openai, calls)
    sigterm_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(GRACEFUL_TIMEOUT + MARGIN)
    assert server.proc.wait(GRACEFUL_TIMEOUT) == 0
    assert [c.failure for c in calls if c.failure] == []

    for call in calls:
        assert call.ended_at > sigterm_at, f"{call.request_id} was not in flight at SIGTERM"
        if call.kind == "json":
            assert call.completed(), f"{call.request_id} should have completed: {call.status} {call.body}"
            continue
        assert call.status == 503, f"{call.request_id}: {call.status} {call.body}"
        assert int(call.headers["Retry-After"]) > 0
        error = json.loads(call.body)["error"]
        assert error["code"] == "server_shutting_down" and "stop deadline" in error["message"], error
        if call.surface == "api":
            assert error["request_id"] == call.request_id
        else:  # OpenAI's shape, so the SDK raises InternalServerError carrying the code
            assert error == {"message": error["message"], "type": "server_error", "param": None,
                             "code": "server_shutting_down"}
        if call.surface == "sdk":
            assert isinstance(call.sdk_error, openai.InternalServerError)
            assert call.sdk_error.code == "server_shutting_down"
        # Answered at the deadline, not before it, and not long after.
        assert sigterm_at + STOP_DEADLINE <= call.ended_at <= sigterm_at + STOP_DEADLINE + MARGIN

    assert len(_chats(fake_openai)) == len(calls), "a call ended by the stop was sent upstream again"
    assert [r for r in list(fake_gemini.requests) if "generateContent" in r.path] == [], "failed over to Gemini"
    rows = usage_rows(server.reader, at_least=len(calls))
    assert sorted(r["request_id"] for r in rows) == sorted(c.request_id for c in calls), "one usage row per call"
    for row in rows:
        if "late-json" in row["request_id"]:
            assert (row["status"], row["error_code"], row["stream"]) == ("error", "server_shutting_down", False), row
            # The attempt's latency so far: it began before SIGTERM and ended at the deadline.
            assert STOP_DEADLINE * 1000 <= row["latency_ms"] < BEHAVIOURS["late-json"]["delay"] * 1000, row
        else:
            assert (row["status"], row["provider"]) == ("success", "openai"), row

    output = server.output()
    assert "Worker graceful timeout" not in output and "Traceback" not in output
    assert f"ending 0 streams still open and {len(late)} JSON calls waiting on upstream" in output


def test_a_deadline_above_the_graceful_timeout_is_lowered_and_said_so(serve_gunicorn, fake_openai):
    """AICHAT_STOP_DEADLINE=60 with a 10 s graceful timeout: is a silent stream still ended (at 5 s), so the
    worker exits 0 by itself and writes the row, and does the log say the deadline was lowered?"""
    server = serve_gunicorn(AICHAT_STOP_DEADLINE=60, AICHAT_GRACEFUL_TIMEOUT=10)
    call = Call("silent", "api", "stop-clamped")
    threads = _start(server.base, fake_openai, [call])
    assert fake_openai.wait_until(lambda: fake_openai.open_streams >= 1, timeout=10)
    server.proc.send_signal(signal.SIGTERM)
    threads[0].join(15)
    assert server.proc.wait(15) == 0
    assert call.shutdown_error()["code"] == "server_shutting_down"
    rows = usage_rows(server.reader, at_least=1)
    assert [(r["request_id"], r["error_code"]) for r in rows] == [("stop-clamped", "server_shutting_down")]
    assert "AICHAT_STOP_DEADLINE=60.0s" in server.output() and "using 5.0s" in server.output()
    assert "Worker graceful timeout" not in server.output()


def test_without_gevent_a_stream_past_the_deadline_ends_at_its_next_delta(gateway_app, fake_openai, live_server):
    """Plain threads (no greenlet to wake): once draining and past the deadline, does the next delta end the
    stream with server_shutting_down, and is its row that error with the tokens delivered so far?"""
    app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], AICHAT_STOP_DEADLINE=0.0)
    base = live_server(app)
    fake_openai.plan(text=" ".join(["word"] * 200), chunk_interval=0.05)
    call = Call("steady", "api", "stop-threaded")
    thread = threading.Thread(target=call.run, args=(base,))
    thread.start()
    for _ in range(500):  # until the client has 3 deltas (bounded: 5 s)
        if len(call.events) >= 3:
            break
        time.sleep(0.01)
    assert len(call.events) >= 3
    runtime_of(app).lifecycle.begin_drain()
    thread.join(10)
    assert call.failure is None and call.shutdown_error()["code"] == "server_shutting_down"
    assert fake_openai.wait_for_streams_ended(timeout=5) and not fake_openai.streams[0].completed, \
        "the upstream call was closed"
    rows = usage_rows(app, at_least=1)
    assert [(r["status"], r["error_code"]) for r in rows] == [("error", "server_shutting_down")]
    assert 3 <= rows[0]["completion_tokens"] < 200


def test_the_database_down_at_sigterm_spools_the_rows_and_the_next_start_writes_them_once(serve_gunicorn, fake_openai,
                                                                                          tmp_path):
    """Chat calls answered while the database is unreachable, then SIGTERM: does the worker spool their rows under
    the instance folder before gunicorn's graceful timeout (exiting 0, not killed), and does the next server write
    each of them exactly once?"""
    from tests.fakes import closed_port

    spool_dir = tmp_path / "usage-spool"
    down = serve_gunicorn(DATABASE_URL=f"postgresql://aichat@127.0.0.1:{closed_port()}/aichat",
                          AICHAT_DB_CONNECT_TIMEOUT=1, AICHAT_USAGE_SPOOL_DIR=spool_dir, AICHAT_ROLLUP_INTERVAL=0,
                          AICHAT_STOP_DEADLINE=2, AICHAT_GRACEFUL_TIMEOUT=8)
    ids = [f"spooled-{i}" for i in range(6)]
    for request_id in ids:
        resp = requests.post(down.base + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES},
                             headers={"Authorization": f"Bearer {CLIENT_KEY}", "X-Request-ID": request_id}, timeout=10)
        assert resp.status_code == 200, resp.text
    down.proc.send_signal(signal.SIGTERM)
    assert down.proc.wait(15) == 0
    assert "Worker graceful timeout" not in down.output()
    assert "rows spooled to" in down.output() and list(spool_dir.glob("*.jsonl")), "the rows are in the spool"

    up = serve_gunicorn(AICHAT_USAGE_SPOOL_DIR=spool_dir, AICHAT_ROLLUP_INTERVAL=0)  # the database is back
    rows = usage_rows(up.reader, at_least=len(ids), timeout=30)
    assert sorted(r["request_id"] for r in rows) == ids, "each spooled row written once"
    assert all(r["status"] == "success" and r["completion_tokens"] > 0 for r in rows)
    assert not list(spool_dir.glob("*.jsonl"))
