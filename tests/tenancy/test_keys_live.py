"""With a running gunicorn of two workers: is a key revoked with `flask keys revoke` refused by either worker on
the very next request once the command returns? During a rotation's grace period do both keys work, and after it
only the new one?"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
import requests

from tests.upstreams.conftest import ok
from tests.upstreams.test_live_changes import eventually

HI = {"messages": [{"role": "user", "content": "hi"}]}


class Workers:
    """Requests that say which worker answered: on one keep-alive connection, the monitoring API names the
    worker's pid and the chat request that follows goes to the same worker."""

    def __init__(self, base: str, admin_token: str):
        self.base, self.admin = base, {"Authorization": f"Bearer {admin_token}"}

    def ask(self, key: str) -> tuple[int, int, dict]:
        """(worker pid, status, error) of one chat request with `key`, on a fresh connection."""
        with requests.Session() as session:
            live = session.get(self.base + "/api/v1/ai-monitoring/providers", headers=self.admin, timeout=10).json()
            pid = live["providers"][0]["live"]["pid"]
            answer = session.post(self.base + "/v1/chat/completions", json=HI, timeout=10,
                                  headers={"Authorization": f"Bearer {key}"})
            again = session.get(self.base + "/api/v1/ai-monitoring/providers", headers=self.admin, timeout=10)
            assert again.json()["providers"][0]["live"]["pid"] == pid, "the connection stayed on one worker"
        return pid, answer.status_code, (answer.json().get("error") if answer.status_code != 200 else {})

    def each(self, key: str, workers: set[int], deadline: float = 20.0) -> dict[int, list[tuple[int, dict]]]:
        """Ask until every worker has answered at least once: {pid: [(status, error), …]}."""
        seen: dict[int, list[tuple[int, dict]]] = {}
        stop = time.monotonic() + deadline
        while set(seen) != workers:
            assert time.monotonic() < stop, f"only workers {sorted(seen)} of {sorted(workers)} answered"
            pid, status, error = self.ask(key)
            seen.setdefault(pid, []).append((status, error))
        return seen


def statuses(seen: dict[int, list[tuple[int, dict]]]) -> set[int]:
    return {status for answers in seen.values() for status, _ in answers}


@pytest.fixture
def served(serve_gunicorn, make_app, make_admin):
    server = serve_gunicorn(workers=2, AICHAT_CONFIG_POLL_INTERVAL="0.5")
    _, token = make_admin(server.reader)
    runner = make_app(AICHAT_CONFIG_POLL_INTERVAL=0.5).test_cli_runner()  # `flask …` with the servers' interval

    def flask(*args):
        return ok(runner.invoke(args=list(args)))

    return server, Workers(server.base, token), flask


def test_a_revoked_key_is_refused_by_every_worker_once_the_command_returns(served):
    server, workers, flask = served
    pids = server.workers()
    assert len(pids) == 2
    key = flask("keys", "create", "--site", "localhost", "--name", "live").stdout.strip()
    eventually(lambda: statuses(workers.each(key, pids)) == {200}, "every worker accepts the new key")

    started = time.monotonic()
    result = flask("keys", "revoke", key[:17])
    assert time.monotonic() - started >= 1.5 and "waiting 1.5 s" in result.stderr
    after = workers.each(key, pids)
    assert statuses(after) == {401}, after
    assert {error["message"] for answers in after.values() for _, error in answers} == {
        f"the API key {key[:17]}… was revoked"}
    assert key not in server.output()
    assert "Traceback" not in server.output()


def test_during_a_rotation_both_keys_work_and_after_it_only_the_new(served):
    server, workers, flask = served
    pids = server.workers()
    old = flask("keys", "create", "--site", "localhost").stdout.strip()
    eventually(lambda: statuses(workers.each(old, pids)) == {200}, "every worker accepts the key")

    new = flask("keys", "rotate", old[:17], "--grace", "8s").stdout.strip()
    shown = json.loads(flask("keys", "show", old[:17], "--json").stdout)
    grace_end = datetime.fromisoformat(shown["expires_at"].replace("Z", "+00:00"))
    eventually(lambda: statuses(workers.each(new, pids)) == {200}, "every worker accepts the new key")
    assert statuses(workers.each(old, pids)) == {200}, "the old key works on every worker during its grace"
    assert datetime.now(timezone.utc) < grace_end, "(the checks above ran inside the grace period)"

    time.sleep(max(0.0, (grace_end - datetime.now(timezone.utc)).total_seconds()) + 0.1)
    expired = workers.each(old, pids)
    assert statuses(expired) == {401}, expired
    assert all(error["message"].startswith(f"the API key {old[:17]}… expired at ")
               for answers in expired.values() for _, error in answers)
    assert statuses(workers.each(new, pids)) == {200}
    assert "Traceback" not in server.output()
