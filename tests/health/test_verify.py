"""`flask verify`: ok, warn and fail per check, the exit code, and the JSON shape."""
import json
import uuid

import pytest

from aichat import create_app
from aichat.health import checks
from tests.conftest import CLIENT_KEY, GEMINI_KEYS, OPENAI_KEYS
from tests.tokenizer import install_cl100k


def verify(app, *args):
    result = app.test_cli_runner().invoke(args=["verify", *args])
    return result, {c["name"]: c for c in json.loads(result.output)["checks"]} if "--json" in args else None


def test_all_ok_exits_zero_with_the_json_shape(make_app, tmp_path):
    install_cl100k(tmp_path)
    app = make_app(GEMINI_API_KEY=list(GEMINI_KEYS), GEMINI_MODEL="gemini-2.5-flash",
                   TIKTOKEN_CACHE_DIR=str(tmp_path), SECRET_KEY="k" * 40)
    result, found = verify(app, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["ok"] is True
    assert [c["name"] for c in document["checks"]] == ["secret_key", "database", "tokenizer", "prices"]
    assert all(set(c) == {"name", "status", "reason"} for c in document["checks"])
    assert {name: c["status"] for name, c in found.items()} == {"secret_key": "ok", "database": "ok",
                                                                 "tokenizer": "ok", "prices": "ok"}
    assert "migrations at head" in found["database"]["reason"]
    assert "tiktoken (cl100k_base)" in found["tokenizer"]["reason"]
    assert "gemini-2.5-flash" in found["prices"]["reason"]


def test_the_rule_in_force_is_a_warning_that_says_why(make_app, tmp_path):
    app = make_app(TIKTOKEN_CACHE_DIR=str(tmp_path / "empty"))
    result, found = verify(app, "--json")
    assert result.exit_code == 0
    assert found["tokenizer"]["status"] == "warn"
    assert f"no encoding files in {tmp_path / 'empty'}" in found["tokenizer"]["reason"]
    assert "flask tokens fetch" in found["tokenizer"]["reason"]


def test_a_missing_encoding_for_the_openai_model_is_a_warning(make_app, tmp_path):
    install_cl100k(tmp_path)
    app = make_app(OPENAI_API_KEY=list(OPENAI_KEYS), OPENAI_MODEL="gpt-4o-mini", TIKTOKEN_CACHE_DIR=str(tmp_path))
    result, found = verify(app, "--json")
    assert result.exit_code == 0
    assert found["tokenizer"]["status"] == "warn" and "needs o200k_base" in found["tokenizer"]["reason"]
    # gpt-4 uses cl100k_base, which is there.
    app = make_app(OPENAI_API_KEY=list(OPENAI_KEYS), OPENAI_MODEL="gpt-4", TIKTOKEN_CACHE_DIR=str(tmp_path))
    assert verify(app, "--json")[1]["tokenizer"]["status"] == "ok"


def test_a_default_model_without_a_price_is_a_warning(make_app, tmp_path):
    unpriced = f"gemini-unpriced-{uuid.uuid4().hex[:6]}"
    app = make_app(GEMINI_API_KEY=list(GEMINI_KEYS), GEMINI_MODEL=unpriced, OPENAI_API_KEY=list(OPENAI_KEYS),
                   OPENAI_MODEL="gpt-4o-mini", TIKTOKEN_CACHE_DIR=str(tmp_path))
    result, found = verify(app, "--json")
    assert result.exit_code == 0
    assert found["prices"]["status"] == "warn"
    assert f"{unpriced} (GEMINI_MODEL)" in found["prices"]["reason"] and "gpt-4o-mini" not in found["prices"]["reason"]
    assert "flask prices set" in found["prices"]["reason"]


def _bare_app(url):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url, "OPENAI_API_KEY": [],
                       "GEMINI_API_KEY": list(GEMINI_KEYS), "AICHAT_API_KEYS": [CLIENT_KEY]})


@pytest.mark.parametrize("kind", ["no file", "not migrated", "unreachable"])
def test_a_database_problem_fails_and_exits_one(tmp_path, kind):
    if kind == "no file":
        url = f"sqlite:///{tmp_path / 'absent.db'}"
    elif kind == "not migrated":
        (tmp_path / "empty.db").write_bytes(b"")
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = "postgresql+psycopg://127.0.0.1:1/nowhere?connect_timeout=2"
    app = _bare_app(url)
    result, found = verify(app, "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["ok"] is False
    assert found["database"]["status"] == "fail"
    expected = {"no file": "run `flask db upgrade`", "not migrated": "is at no schema",
                "unreachable": "cannot connect"}[kind]
    assert expected in found["database"]["reason"]
    assert found["prices"] == {"name": "prices", "status": "warn", "reason": "not checked: the database check failed"}
    assert not (tmp_path / "absent.db").exists(), "verify must not create a database file"
    table = app.test_cli_runner().invoke(args=["verify"])
    assert table.exit_code == 1 and table.output.splitlines()[1].split()[:2] == ["database", "FAIL"]


def test_a_check_that_breaks_is_a_failure_not_a_traceback(make_app, monkeypatch):
    def broken(app):
        raise RuntimeError("boom")

    monkeypatch.setattr(checks, "CHECKS", [checks.database, broken])
    result, found = verify(make_app(), "--json")
    assert result.exit_code == 1
    assert found["broken"] == {"name": "broken", "status": "fail",
                               "reason": "the check itself failed: RuntimeError: boom"}


def test_the_human_table_has_one_line_per_check(make_app, tmp_path):
    result = make_app(TIKTOKEN_CACHE_DIR=str(tmp_path)).test_cli_runner().invoke(args=["verify"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines] == [["secret_key", "WARN"], ["database", "OK"],
                                                    ["tokenizer", "WARN"], ["prices", "OK"]]


@pytest.mark.parametrize("key, status, words", [
    ("dev-insecure-change-me", "warn", "placeholder"),
    ("short-key", "warn", "only 9 characters"),
    ("x" * 48, "ok", "not the placeholder"),
])
def test_the_secret_key_placeholder_or_a_short_key_is_flagged(make_app, tmp_path, key, status, words):
    result, found = verify(make_app(SECRET_KEY=key, TIKTOKEN_CACHE_DIR=str(tmp_path)), "--json")
    assert result.exit_code == 0
    assert found["secret_key"]["status"] == status and words in found["secret_key"]["reason"]
