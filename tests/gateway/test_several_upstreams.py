"""Several upstreams side by side, through the official openai SDK: two OpenAI-compatible endpoints and Gemini."""
from __future__ import annotations

import openai
import pytest
from cryptography.fernet import Fernet

from aichat.crypto import load_keyring
from aichat.extensions import db
from aichat.upstreams import store
from tests.conftest import CLIENT_KEY, GEMINI_KEYS, usage_rows
from tests.fakes import FakeOpenAI
from aichat.runtime import runtime_of

PRIMARY_KEY = "sk-primary-compatible-key-0001"
SECONDARY_KEY = "sk-secondary-compatible-key-0002"
ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture
def compatible():
    """Two OpenAI-compatible endpoints serving the same models, each with its own key."""
    servers = [FakeOpenAI(valid_keys={PRIMARY_KEY}, models=("qwen-plus", "qwen-max")).start(),
               FakeOpenAI(valid_keys={SECONDARY_KEY}, models=("qwen-plus", "qwen-max")).start()]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def client(make_app, fake_gemini, compatible, live_server):
    """Gemini from the environment; `qwen` (priority 5) and `qwen-backup` (priority 1) from the database."""
    app = make_app(GEMINI_API_KEY=list(GEMINI_KEYS), GEMINI_BASE_URL=fake_gemini.base_url,
                   AICHAT_PROVIDER_ORDER=["gemini"], AICHAT_ENCRYPTION_KEY=[ENCRYPTION_KEY],
                   AICHAT_CONFIG_POLL_INTERVAL=0)
    primary, secondary = compatible
    with app.app_context():
        keyring = load_keyring(app.config, app.instance_path)
        for name, server, key, priority in (("qwen", primary, PRIMARY_KEY, 5),
                                            ("qwen-backup", secondary, SECONDARY_KEY, 1)):
            store.add_upstream(db.session, name, "openai", server.base_url, ["qwen-*"], "qwen-plus", priority)
            store.add_key(db.session, keyring, name, "main", key)
    runtime_of(app).live.poll()
    client = openai.OpenAI(base_url=live_server(app) + "/v1", api_key=CLIENT_KEY, max_retries=0)
    client.app = app
    return client


def ask(client, model: str, **extra):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], **extra)


def test_each_model_goes_to_the_upstream_that_serves_it(client, compatible, fake_gemini):
    primary, secondary = compatible
    assert ask(client, "gemini-2.5-flash").model.startswith("gemini-2.5-flash")
    assert ask(client, "qwen-max").model == "qwen-max"
    assert [r.key for r in primary.requests] == [PRIMARY_KEY] and secondary.requests == []
    assert len(fake_gemini.requests) == 1
    assert {m.id for m in client.models.list()} >= {"gemini-2.5-flash", "qwen-plus"}


def test_a_model_served_by_two_upstreams_fails_over_from_one_to_the_other(client, compatible):
    primary, secondary = compatible
    primary.plan(error="server_error")
    answer = ask(client, "qwen-plus")
    assert answer.choices[0].message.content
    assert (len(primary.requests), len(secondary.requests)) == (1, 1)
    rows = usage_rows(client.app, at_least=2)
    assert [(r["attempt"], r["key_label"], r["status"], r["failed_over"]) for r in rows] == [
        (1, "main", "error", True), (2, "main", "success", False)]
    assert [r["provider"] for r in rows] == ["openai", "openai"], "provider is the kind"


def test_a_stream_fails_over_before_its_first_byte(client, compatible):
    primary, secondary = compatible
    primary.plan(error="overloaded")
    text = "".join(chunk.choices[0].delta.content or "" for chunk in ask(client, "qwen-plus", stream=True)
                   if chunk.choices)
    assert text and (len(primary.requests), len(secondary.requests)) == (1, 1)


def test_an_explicit_upstream_name_skips_the_priority(client, compatible):
    primary, secondary = compatible
    ask(client, "qwen-backup/qwen-plus")
    assert (len(primary.requests), len(secondary.requests)) == (0, 1)
