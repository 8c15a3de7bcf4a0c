"""The live gateway: rebuilt when the configuration version moves, taking over what did not change."""
from __future__ import annotations

import logging

import pytest

from aichat.extensions import db
from aichat.upstreams import store
from tests.conftest import OPENAI_KEYS, usage_rows

from .conftest import OLD_KEY
from aichat.runtime import runtime_of

URL = "/api/v1/ai-proxy/chat"


@pytest.fixture
def app(make_app, fake_openai):
    """The environment's `openai` upstream on the fake, and upstreams added in the database at will; no poller:
    the tests call poll() themselves."""
    return make_app(OPENAI_API_KEY=list(OPENAI_KEYS), OPENAI_BASE_URL=fake_openai.base_url,
                    AICHAT_PROVIDER_ORDER=["openai"], AICHAT_ENCRYPTION_KEY=[OLD_KEY],
                    AICHAT_CONFIG_POLL_INTERVAL=0)


def add_deepseek(app, base_url: str, enabled_key: bool = True) -> None:
    from aichat.crypto import load_keyring

    with app.app_context():
        store.add_upstream(db.session, "deepseek", "openai", base_url, ["deepseek-*"], "deepseek-chat", 0)
        store.add_key(db.session, load_keyring(app.config, app.instance_path), "deepseek", "main", OPENAI_KEYS[0])
        if not enabled_key:
            store.set_key_enabled(db.session, "deepseek", "main", False)


def live(app):
    return runtime_of(app).live


def test_nothing_changed_nothing_rebuilt(app):
    before = runtime_of(app).gateway
    assert live(app).poll() is False
    assert runtime_of(app).gateway is before


def test_a_change_rebuilds_and_takes_over_unchanged_upstreams_with_their_health(app, fake_openai):
    """A benched key of an untouched upstream stays benched: a rebuild forgets no health."""
    old = runtime_of(app).gateway
    old.upstreams["openai"].keys[0].bench("upstream_key_invalid")
    add_deepseek(app, fake_openai.base_url)
    assert live(app).poll() is True
    new = runtime_of(app).gateway
    assert new is not old and set(new.upstreams) == {"openai", "deepseek"}
    assert new.upstreams["openai"] is old.upstreams["openai"], "same clients, same breakers"
    assert new.upstreams["openai"].keys[0].invalid_reason == "upstream_key_invalid"
    assert new.upstreams["deepseek"].kind == "openai"
    resp = app.test_client().post(URL, json={"messages": [{"role": "user", "content": "hi"}],
                                            "model": "deepseek-chat", "suggestions": False})
    assert resp.status_code == 200, resp.json
    assert resp.json["provider"] == "deepseek"


def test_an_upstream_with_only_disabled_keys_serves_nothing(app, fake_openai):
    add_deepseek(app, fake_openai.base_url, enabled_key=False)
    live(app).poll()
    assert "deepseek" not in runtime_of(app).gateway.upstreams
    resp = app.test_client().post(URL, json={"messages": [{"role": "user", "content": "hi"}],
                                            "model": "deepseek-chat"})
    assert resp.status_code == 404 and resp.json["error"]["code"] == "model_not_found"


def test_a_stream_in_flight_finishes_on_the_configuration_it_started_with(app, fake_openai):
    add_deepseek(app, fake_openai.base_url)
    live(app).poll()
    fake_openai.plan(chunks=6, chunk_interval=0.05)
    client = app.test_client()
    resp = client.post(URL, json={"messages": [{"role": "user", "content": "hi"}], "model": "deepseek-chat",
                                  "stream": True, "suggestions": False}, buffered=False)
    events = resp.response  # the stream has opened upstream: its first delta is in hand
    first = next(events)
    with app.app_context():
        store.remove_upstream(db.session, "deepseek")
    assert live(app).poll() is True
    assert "deepseek" not in runtime_of(app).gateway.upstreams
    body = (first + b"".join(events)).decode()
    resp.close()
    assert body.count("event: delta") >= 6 and "event: done" in body and "event: error" not in body
    (row,) = usage_rows(app, at_least=1)
    assert (row["status"], row["key_label"]) == ("success", "main")


def test_the_database_away_keeps_the_gateway_and_says_so_once(app, caplog, monkeypatch):
    before = runtime_of(app).gateway
    monkeypatch.setattr(store, "config_version", lambda session: (_ for _ in ()).throw(
        __import__("sqlalchemy").exc.OperationalError("SELECT", {}, Exception("gone"))))
    with caplog.at_level(logging.WARNING, logger="aichat.upstreams.live"):
        for _ in range(3):
            assert live(app).poll() is False
    assert runtime_of(app).gateway is before
    assert len([r for r in caplog.records if "cannot read the upstream configuration" in r.message]) == 1
