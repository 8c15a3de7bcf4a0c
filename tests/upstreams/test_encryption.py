"""Keys at rest: where the encryption key comes from, rotation with `flask upstreams reencrypt`, and a scan of
every column of every table for a key in clear."""
import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from aichat.crypto import EncryptionKeyError, KeyRing, load_keyring
from aichat.extensions import db
from aichat.models import UpstreamKey
from tests.conftest import OPENAI_KEYS
from tests.upstreams.conftest import DEEPSEEK_KEY, NEW_KEY, OLD_KEY, QWEN_KEY, ok, refused

# --- the key ring ----------------------------------------------------------------


def test_the_ring_comes_from_the_setting_newest_first():
    ring = load_keyring({"AICHAT_ENCRYPTION_KEY": [NEW_KEY, OLD_KEY]}, "/nonexistent")
    assert (ring.size, ring.generated) == (2, False)
    token = ring.encrypt(DEEPSEEK_KEY)
    assert Fernet(NEW_KEY.encode()).decrypt(token.encode()).decode() == DEEPSEEK_KEY
    old_token = Fernet(OLD_KEY.encode()).encrypt(b"secret").decode()
    assert ring.decrypt(old_token) == "secret" and not ring.is_newest(old_token)
    assert ring.is_newest(ring.rotate(old_token))


def test_without_the_setting_a_key_is_generated_once_in_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    first = load_keyring({"AICHAT_ENCRYPTION_KEY": []}, str(instance))
    path = instance / "encryption_key"
    assert first.generated and first.source == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in instance.iterdir()] == ["encryption_key"], "no temporary file left behind"
    second = load_keyring({}, str(instance))
    token = first.encrypt(DEEPSEEK_KEY)
    assert second.decrypt(token) == DEEPSEEK_KEY, "the same key every time (and in every worker)"
    Fernet(path.read_text().strip().encode())  # a real Fernet key


def test_no_key_and_no_writable_instance_folder_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(EncryptionKeyError, match="none could be read or generated in .*: set one"):
        load_keyring({}, str(tmp_path / "a-file" / "instance"))


@pytest.mark.parametrize("keys, where", [
    (["not-a-fernet-key-but-quite-long-0123456789"], "AICHAT_ENCRYPTION_KEY is not a Fernet key"),
    ([NEW_KEY, "short-secret-value"], "key 2 of 2 in AICHAT_ENCRYPTION_KEY is not a Fernet key"),
])
def test_a_bad_encryption_key_is_named_by_position_never_shown(keys, where):
    with pytest.raises(EncryptionKeyError) as caught:
        KeyRing(keys)
    assert where in str(caught.value)
    assert all(key not in str(caught.value) for key in keys)


def test_a_bad_encryption_key_stops_key_entry_with_its_reason(make_upstreams_app):
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=["not-a-fernet-key-but-quite-long-0123456789"])
    runner = app.test_cli_runner()
    ok(runner.invoke(args=["upstreams", "add", "deepseek", "--kind", "openai", "--base-url", "https://d.example",
                           "--models", "deepseek-chat"]))
    result = runner.invoke(args=["upstreams", "keys", "add", "deepseek", "--label", "main"], input=DEEPSEEK_KEY)
    assert result.exit_code == 1 and "AICHAT_ENCRYPTION_KEY is not a Fernet key" in result.stderr
    assert "not-a-fernet-key" not in result.output and DEEPSEEK_KEY not in result.output


# --- rotation --------------------------------------------------------------------


def _tokens(app):
    with app.app_context():
        return {k.label: k.secret_encrypted for k in db.session.execute(db.select(UpstreamKey)).scalars()}


def _opens(key, token):
    try:
        return Fernet(key.encode()).decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def test_reencrypt_moves_every_key_to_the_newest_encryption_key(make_upstreams_app, flask, deepseek):
    ok(flask("upstreams", "keys", "add", "deepseek", "--label", "backup", input=QWEN_KEY + "\n"))
    old_app = make_upstreams_app()  # AICHAT_ENCRYPTION_KEY=OLD_KEY
    before = _tokens(old_app)
    assert {label: _opens(OLD_KEY, t) for label, t in before.items()} == {"main": DEEPSEEK_KEY, "backup": QWEN_KEY}
    assert all(_opens(NEW_KEY, t) is None for t in before.values())

    rotating = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[NEW_KEY, OLD_KEY])
    version = _version(rotating)
    result = ok(rotating.test_cli_runner().invoke(args=["upstreams", "reencrypt"]))
    assert "Re-encrypted 2 stored keys under the newest encryption key" in result.stderr
    assert "drop the older ones from AICHAT_ENCRYPTION_KEY" in result.stderr
    after = _tokens(rotating)
    assert {label: _opens(NEW_KEY, t) for label, t in after.items()} == {"main": DEEPSEEK_KEY, "backup": QWEN_KEY}
    assert all(_opens(OLD_KEY, t) is None for t in after.values()), "the old key opens nothing any more"
    assert _version(rotating) == version, "the secrets did not change: no gateway is rebuilt"

    new_only = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[NEW_KEY])  # the old key dropped
    with new_only.app_context():
        from aichat.upstreams import store

        specs = store.database_specs(db.session, KeyRing([NEW_KEY]))
    assert [(k.label, k.secret) for k in specs[0].keys] == [("main", DEEPSEEK_KEY), ("backup", QWEN_KEY)]


def test_reencrypt_names_the_keys_it_cannot_open_and_fails(make_upstreams_app, flask, deepseek):
    stranger = Fernet.generate_key().decode()
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[stranger, NEW_KEY])  # OLD_KEY, which stored them, is missing
    ok(app.test_cli_runner().invoke(args=["upstreams", "add", "other", "--kind", "openai", "--base-url",
                                          "https://o.example", "--models", "m"]))
    ok(app.test_cli_runner().invoke(args=["upstreams", "keys", "add", "other", "--label", "k"],
                                    input=OPENAI_KEYS[0] + "\n"))
    result = app.test_cli_runner().invoke(args=["upstreams", "reencrypt"])
    assert result.exit_code == 1
    assert "Re-encrypted 1 stored key under" in result.stderr
    assert "1 stored key cannot be decrypted with the encryption keys in use (deepseek/main)" in result.stderr
    for secret in (DEEPSEEK_KEY, OPENAI_KEYS[0], stranger, NEW_KEY, OLD_KEY):
        assert secret not in result.output
    assert _opens(OLD_KEY, _tokens(app)["main"]) == DEEPSEEK_KEY, "what it cannot open it leaves as it was"


def _version(app):
    from aichat.upstreams import store

    with app.app_context():
        return store.config_version(db.session)


# --- the scan --------------------------------------------------------------------


def scan_for(app, secrets: list[str]) -> list[str]:
    """`table.column` of every value, in every column of every table, that holds one of `secrets`."""
    found = []
    with app.app_context():
        with db.engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                columns = list(result.keys())
                for row in result:
                    for column, value in zip(columns, row):
                        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                        found += [f"{table}.{column}" for secret in secrets if secret in text]
    return found


def _add_keys_and_use_them(flask, fake_openai):
    ok(flask("upstreams", "add", "fake", "--kind", "openai", "--base-url", fake_openai.base_url, "--models",
             "gpt-4o-mini"))
    ok(flask("upstreams", "keys", "add", "fake", "--label", "main", input=OPENAI_KEYS[0] + "\n"))
    ok(flask("upstreams", "keys", "add", "fake", "--label", "spare", input=DEEPSEEK_KEY + "\n"))
    ok(flask("upstreams", "test", "fake"))
    ok(flask("upstreams", "keys", "disable", "fake", "spare"))
    ok(flask("upstreams", "reencrypt"))


def test_no_column_of_any_table_holds_a_key_in_clear(app, flask, fake_openai):
    _add_keys_and_use_them(flask, fake_openai)
    assert len(_tokens(app)) == 2
    assert scan_for(app, [OPENAI_KEYS[0], DEEPSEEK_KEY]) == []


def test_the_scan_finds_a_key_stored_in_clear(app, flask, fake_openai, monkeypatch):
    """The scan can fail: with encryption broken on purpose it names the column."""
    monkeypatch.setattr(KeyRing, "encrypt", lambda self, secret: secret)
    monkeypatch.setattr(KeyRing, "rotate", lambda self, token: token)
    monkeypatch.setattr(KeyRing, "decrypt", lambda self, token: token)
    _add_keys_and_use_them(flask, fake_openai)
    assert sorted(scan_for(app, [OPENAI_KEYS[0], DEEPSEEK_KEY])) == ["upstream_key.secret_encrypted"] * 2


def test_a_refused_entry_keeps_nothing(app, flask):
    ok(flask("upstreams", "add", "deepseek", "--kind", "openai", "--base-url", "https://d.example", "--models", "m"))
    refused(flask("upstreams", "keys", "add", "deepseek", "--label", "bad label", input=DEEPSEEK_KEY + "\n"),
            "key label")
    assert scan_for(app, [DEEPSEEK_KEY, DEEPSEEK_KEY[:12], DEEPSEEK_KEY[-12:]]) == []
