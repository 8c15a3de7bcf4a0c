"""The store as the gateway reads it: specs with keys decrypted, and the version every change bumps."""
import logging

import pytest
from sqlalchemy import delete

from aichat.crypto import KeyRing
from aichat.extensions import db
from aichat.gateway.specs import KeySpec, SpecError, UpstreamSpec
from aichat.models import ConfigVersion, Upstream, UpstreamKey
from aichat.upstreams import store
from tests.upstreams.conftest import DEEPSEEK_KEY, NEW_KEY, OLD_KEY, QWEN_KEY

RING = KeyRing([OLD_KEY])


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def _two_upstreams(session):
    store.add_upstream(session, "deepseek", "openai", "https://api.deepseek.com/v1/", ["deepseek-chat", "deepseek-*"],
                       priority=5)
    store.add_key(session, RING, "deepseek", "main", DEEPSEEK_KEY)
    store.add_key(session, RING, "deepseek", "backup", QWEN_KEY)
    store.set_key_enabled(session, "deepseek", "backup", False)
    store.add_upstream(session, "gemini-eu", "gemini", "https://generativelanguage.googleapis.com", ["gemini-*"],
                       default_model="gemini-2.5-flash", enabled=False)


def test_database_specs_are_every_upstream_with_its_keys_decrypted(session):
    _two_upstreams(session)
    assert store.database_specs(session, RING) == [
        UpstreamSpec("deepseek", "openai", "https://api.deepseek.com/v1",
                     (KeySpec("main", DEEPSEEK_KEY, True), KeySpec("backup", QWEN_KEY, False)),
                     ("deepseek-chat", "deepseek-*"), "deepseek-chat", 5, True, "database"),
        UpstreamSpec("gemini-eu", "gemini", "https://generativelanguage.googleapis.com", (), ("gemini-*",),
                     "gemini-2.5-flash", 0, False, "database"),
    ]
    assert DEEPSEEK_KEY not in repr(store.database_specs(session, RING)), "a spec never shows its secret"


def test_a_key_that_cannot_be_decrypted_is_left_out_and_logged_by_label_only(session, caplog):
    _two_upstreams(session)
    other = KeyRing([NEW_KEY])  # not the key they were stored under
    with caplog.at_level(logging.ERROR, logger="aichat.upstreams.store"):
        specs = store.database_specs(session, other)
    assert specs[0].keys == () and specs[0].name == "deepseek"
    assert "upstream deepseek: key main cannot be decrypted" in caplog.text
    assert "upstream deepseek: key backup cannot be decrypted" in caplog.text
    assert DEEPSEEK_KEY not in caplog.text and QWEN_KEY not in caplog.text
    assert OLD_KEY not in caplog.text and NEW_KEY not in caplog.text
    assert store.undecryptable(session, other) == [("deepseek", "main"), ("deepseek", "backup")]
    assert store.undecryptable(session, RING) == []


def test_every_change_bumps_the_version_once_and_a_refused_one_not_at_all(session):
    start = store.config_version(session)
    changes = [
        lambda: store.add_upstream(session, "deepseek", "openai", "https://api.deepseek.com", ["deepseek-chat"]),
        lambda: store.update_upstream(session, "deepseek", priority=3),
        lambda: store.set_enabled(session, "deepseek", False),
        lambda: store.set_enabled(session, "deepseek", True),
        lambda: store.add_key(session, RING, "deepseek", "main", DEEPSEEK_KEY),
        lambda: store.set_key_enabled(session, "deepseek", "main", False),
        lambda: store.set_key_enabled(session, "deepseek", "main", True),
        lambda: store.remove_key(session, "deepseek", "main"),
        lambda: store.remove_upstream(session, "deepseek"),
    ]
    for number, change in enumerate(changes, 1):
        change()
        assert store.config_version(session) == start + number
    refusals = [
        lambda: store.add_upstream(session, "x", "nope", "https://x.example", ["m"]),
        lambda: store.update_upstream(session, "deepseek", priority=1),
        lambda: store.add_key(session, RING, "deepseek", "main", DEEPSEEK_KEY),
        lambda: store.add_upstream(session, "openai", "openai", "https://x.example", ["m"], reserved={"openai"}),
    ]
    for refusal in refusals:
        with pytest.raises(SpecError):
            refusal()
        assert store.config_version(session) == start + len(changes)


def test_the_version_and_the_change_commit_together(session, monkeypatch):
    """A change that fails while committing leaves neither the row nor a new version behind."""
    start = store.config_version(session)
    original = Upstream.__init__

    def breaks(self, **kwargs):
        original(self, **kwargs)
        self.kind = None  # NOT NULL: the INSERT fails after the version was bumped

    monkeypatch.setattr(Upstream, "__init__", breaks)
    with pytest.raises(Exception):
        store.add_upstream(session, "deepseek", "openai", "https://api.deepseek.com", ["deepseek-chat"])
    monkeypatch.undo()
    assert store.config_version(session) == start
    assert store.find(session, "deepseek") is None


def test_the_version_is_0_without_its_row_and_the_first_change_creates_it(session):
    session.execute(delete(ConfigVersion))
    assert store.config_version(session) == 0
    store.add_upstream(session, "deepseek", "openai", "https://api.deepseek.com", ["deepseek-chat"])
    assert store.config_version(session) == 1
    store.remove_upstream(session, "deepseek")
    assert store.config_version(session) == 2


def test_a_stored_key_row_holds_a_token_and_a_hint_only(session):
    _two_upstreams(session)
    row = session.execute(db.select(UpstreamKey).where(UpstreamKey.label == "main")).scalar_one()
    assert row.hint == f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}"
    assert row.secret_encrypted.startswith("gAAAA") and DEEPSEEK_KEY not in row.secret_encrypted
    assert RING.decrypt(row.secret_encrypted) == DEEPSEEK_KEY


@pytest.mark.parametrize("secret, shown", [
    ("sk-0123456789abcdef", "sk-0…cdef"),
    ("0123456789ab", "012…9ab"),
    ("abcdefgh", "ab…gh"),
    ("abc", "…"),
])
def test_a_hint_never_shows_more_than_half_a_key(secret, shown):
    from aichat.crypto import hint

    assert hint(secret) == shown
    assert len(shown.replace("…", "")) <= len(secret) // 2
