"""Does `flask upstreams …` change what a running gunicorn (two workers) uses, within seconds, with no restart
and no failed request?"""
from __future__ import annotations

import threading
import time

import openai
import pytest

from tests.conftest import CLIENT_KEY
from tests.fakes import FakeOpenAI

from .conftest import OLD_KEY, ok

DEEPSEEK_KEY = "sk-deepseek-live-change-key-0001"
BACKUP_KEY = "sk-deepseek-backup-live-key-0002"
PROMISED = 5.0  # seconds: docs/upstreams.md promises a change reaches every worker within a few seconds


@pytest.fixture
def deepseek_fake():
    server = FakeOpenAI(valid_keys={DEEPSEEK_KEY}, models=("deepseek-chat", "deepseek-reasoner")).start()
    yield server
    server.stop()


@pytest.fixture
def backup_fake():
    server = FakeOpenAI(valid_keys={BACKUP_KEY}, models=("deepseek-chat",)).start()
    yield server
    server.stop()


class Traffic:
    """Requests to the environment's upstream, one after another on a thread, until stopped: none may fail."""

    def __init__(self, client: openai.OpenAI):
        self.client = client
        self.failures: list[str] = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)

    def _run(self):
        deadline = time.monotonic() + 120  # bounded, whatever happens to the test
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                self.count += 1
            except openai.APIError as exc:
                self.failures.append(repr(exc))


def eventually(check, what: str, timeout: float = PROMISED):
    """Poll `check` (no timing is asserted: the bound only keeps a broken build from hanging)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def test_add_disable_remove_change_the_next_requests_of_every_worker(serve_gunicorn, make_app, deepseek_fake,
                                                                     backup_fake):
    server = serve_gunicorn(workers=2, AICHAT_ENCRYPTION_KEY=OLD_KEY, AICHAT_CONFIG_POLL_INTERVAL="0.5")
    cli_app = make_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY])  # `flask …` on the server's database
    runner = cli_app.test_cli_runner()

    def flask(*args, input=None):
        return ok(runner.invoke(args=list(args), input=input))

    client = openai.OpenAI(base_url=server.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
    ask = lambda: client.chat.completions.create(model="deepseek-chat",  # noqa: E731
                                                 messages=[{"role": "user", "content": "hello"}])

    with pytest.raises(openai.NotFoundError):
        ask()
    with Traffic(client) as traffic:
        flask("upstreams", "add", "deepseek", "--kind", "openai", "--base-url", deepseek_fake.base_url,
              "--models", "deepseek-*", "--default-model", "deepseek-chat", "--priority", "5")
        flask("upstreams", "keys", "add", "deepseek", "--label", "main", input=DEEPSEEK_KEY + "\n")

        # Every worker (a fresh connection each time lands on either) serves the new model within seconds.
        def served_everywhere():
            before = len(deepseek_fake.requests)
            for _ in range(6):
                try:
                    ask()
                except openai.NotFoundError:
                    return False
            return len(deepseek_fake.requests) - before == 6

        eventually(served_everywhere, "the new upstream serves deepseek-chat in every worker")
        assert {r.key for r in deepseek_fake.requests} == {DEEPSEEK_KEY}

        # A second upstream serving the same models at a lower priority: used only when the first fails.
        flask("upstreams", "add", "deepseek-backup", "--kind", "openai", "--base-url", backup_fake.base_url,
              "--models", "deepseek-*", "--default-model", "deepseek-chat", "--priority", "1")
        flask("upstreams", "keys", "add", "deepseek-backup", "--label", "main", input=BACKUP_KEY + "\n")
        time.sleep(1.5)  # both workers have polled at least twice
        before = len(backup_fake.requests)
        for _ in range(4):
            ask()
        assert len(backup_fake.requests) == before, "the higher priority upstream answers while it is well"

        # Disabling the first moves its model to the second, in every worker.
        flask("upstreams", "disable", "deepseek")

        def moved():
            before_main, before_backup = len(deepseek_fake.requests), len(backup_fake.requests)
            for _ in range(6):
                ask()
            return len(deepseek_fake.requests) == before_main and len(backup_fake.requests) - before_backup == 6

        eventually(moved, "disabling an upstream moves its traffic to the next one")

        # Removing the upstreams leaves their model unknown again.
        flask("upstreams", "remove", "deepseek-backup", "--yes")
        flask("upstreams", "remove", "deepseek", "--yes")

        def gone():
            try:
                ask()
            except openai.NotFoundError:
                try:
                    ask()
                except openai.NotFoundError:
                    return True
            return False

        eventually(gone, "removed upstreams no longer serve their models")
    assert traffic.failures == [], "no request to the untouched upstream failed while the configuration changed"
    assert traffic.count > 10
    assert "Traceback" not in server.output()


def test_the_encryption_key_is_rotated_while_serving(serve_gunicorn, make_app, deepseek_fake):
    """Keys stored under OLD; servers started with NEW,OLD; `reencrypt` while requests flow; then a change makes
    every worker decrypt again: only NEW opens the tokens now, and no request failed meanwhile."""
    from cryptography.fernet import Fernet

    from aichat.extensions import db
    from aichat.models import UpstreamKey

    new_key = Fernet.generate_key().decode()
    old_app = make_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY])
    old = old_app.test_cli_runner()
    ok(old.invoke(args=["upstreams", "add", "deepseek", "--kind", "openai", "--base-url", deepseek_fake.base_url,
                        "--models", "deepseek-*", "--default-model", "deepseek-chat"]))
    ok(old.invoke(args=["upstreams", "keys", "add", "deepseek", "--label", "main"], input=DEEPSEEK_KEY + "\n"))

    server = serve_gunicorn(workers=2, AICHAT_ENCRYPTION_KEY=f"{new_key},{OLD_KEY}", AICHAT_CONFIG_POLL_INTERVAL="0.5")
    rotating = make_app(AICHAT_ENCRYPTION_KEY=[new_key, OLD_KEY]).test_cli_runner()
    client = openai.OpenAI(base_url=server.base + "/v1", api_key=CLIENT_KEY, max_retries=0)

    def ask():
        return client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "hi"}])

    eventually(lambda: ask().model == "deepseek-chat", "the stored upstream serves")
    with Traffic(client) as traffic:
        result = ok(rotating.invoke(args=["upstreams", "reencrypt"]))
        assert "Re-encrypted 1 stored key" in result.stderr
        # Any change makes every worker read and decrypt the keys again, now stored under NEW.
        ok(rotating.invoke(args=["upstreams", "update", "deepseek", "--priority", "3"]))
        time.sleep(1.5)
        for _ in range(6):
            assert ask().choices[0].message.content
    assert traffic.failures == []
    with old_app.app_context():
        token = db.session.execute(db.select(UpstreamKey.secret_encrypted)).scalar_one()
    assert Fernet(new_key.encode()).decrypt(token.encode()).decode() == DEEPSEEK_KEY
    with pytest.raises(Exception):
        Fernet(OLD_KEY.encode()).decrypt(token.encode())
    assert deepseek_fake.requests and {r.key for r in deepseek_fake.requests} == {DEEPSEEK_KEY}
