"""`flask verify` on upstream keys at rest: a generated encryption key in production, keys it cannot open."""
import json

import pytest
from cryptography.fernet import Fernet

from tests.upstreams.conftest import DEEPSEEK_KEY, NEW_KEY, OLD_KEY, ok


def encryption_check(app, instance=None):
    """(exit code, output, the `encryption` entry) of `flask verify --json`."""
    if instance is not None:
        app.instance_path = str(instance)
    result = app.test_cli_runner().invoke(args=["verify", "--json"])
    found = {c["name"]: c for c in json.loads(result.output)["checks"]}["encryption"]
    return result.exit_code, result.output, found


def _store_a_key(app):
    runner = app.test_cli_runner()
    ok(runner.invoke(args=["upstreams", "add", "deepseek", "--kind", "openai", "--base-url", "https://d.example",
                           "--models", "deepseek-chat"]))
    ok(runner.invoke(args=["upstreams", "keys", "add", "deepseek", "--label", "main"], input=DEEPSEEK_KEY + "\n"))


@pytest.mark.parametrize("env, status", [("production", "warn"), ("development", "ok")])
def test_a_generated_encryption_key_warns_in_production(make_upstreams_app, tmp_path, env, status):
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[], AICHAT_ENV=env)
    app.instance_path = str(tmp_path)
    _store_a_key(app)  # generates instance/encryption_key
    assert (tmp_path / "encryption_key").exists()
    _, output, found = encryption_check(app)
    assert found["status"] == status, found
    assert f"1 upstream key stored, all decrypt; the encryption key is generated in {tmp_path}/encryption_key" \
        in found["reason"]
    if status == "warn":
        assert "set AICHAT_ENCRYPTION_KEY to its content on every instance" in found["reason"]
    assert DEEPSEEK_KEY not in output and (tmp_path / "encryption_key").read_text().strip() not in output


def test_verify_never_generates_the_key_itself(make_upstreams_app, tmp_path):
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[], AICHAT_ENV="production")
    _, _, found = encryption_check(app, tmp_path)
    assert found["status"] == "warn"
    assert f"no upstream keys stored; the encryption key is to be generated in {tmp_path}/encryption_key" \
        in found["reason"]
    assert not (tmp_path / "encryption_key").exists()


def test_a_set_encryption_key_that_opens_every_stored_key_is_ok(make_upstreams_app, tmp_path):
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY], AICHAT_ENV="production")
    _store_a_key(app)
    _, _, found = encryption_check(app, tmp_path)
    assert (found["status"], found["reason"]) == ("ok", "1 upstream key stored, all decrypt; 1 key in "
                                                        "AICHAT_ENCRYPTION_KEY")


def test_a_stored_key_that_cannot_be_decrypted_fails_naming_its_label(make_upstreams_app, tmp_path):
    _store_a_key(make_upstreams_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY]))
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[NEW_KEY], AICHAT_ENV="development")  # OLD_KEY was dropped
    code, output, found = encryption_check(app, tmp_path)
    assert code == 1 and found["status"] == "fail"
    assert "1 upstream key of 1 cannot be decrypted with the encryption keys in use (deepseek/main)" in found["reason"]
    for secret in (DEEPSEEK_KEY, OLD_KEY, NEW_KEY):
        assert secret not in output


def test_stored_keys_without_any_encryption_key_fail(make_upstreams_app, tmp_path):
    _store_a_key(make_upstreams_app(AICHAT_ENCRYPTION_KEY=[OLD_KEY]))
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[], AICHAT_ENV="development")
    code, _, found = encryption_check(app, tmp_path)
    assert code == 1 and found["status"] == "fail"
    assert "1 upstream key stored, but AICHAT_ENCRYPTION_KEY is unset and" in found["reason"]
    assert not (tmp_path / "encryption_key").exists()


def test_an_encryption_key_that_is_not_one_fails(make_upstreams_app, tmp_path):
    app = make_upstreams_app(AICHAT_ENCRYPTION_KEY=[Fernet.generate_key().decode(), "not-a-key-at-all-0123456789"])
    code, output, found = encryption_check(app, tmp_path)
    assert code == 1 and found["status"] == "fail"
    assert "key 2 of 2 in AICHAT_ENCRYPTION_KEY is not a Fernet key" in found["reason"]
    assert "not-a-key-at-all" not in output
