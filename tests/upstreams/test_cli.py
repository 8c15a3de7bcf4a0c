"""`flask upstreams …` through Flask's CLI runner, against the real database."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from aichat.extensions import db
from aichat.models import AIUsageLog, Upstream, UpstreamKey
from aichat.upstreams import store
from tests.conftest import OPENAI_KEYS
from tests.upstreams.conftest import DEEPSEEK_KEY, OLD_KEY, QWEN_KEY, ok, refused
from tests.usage.factories import log_row, write_logs


def _row(app, name):
    with app.app_context():
        row = db.session.execute(db.select(Upstream).where(Upstream.name == name)).scalar_one_or_none()
        if row is not None:
            row.keys  # loaded while the session is open
        return row


def _version(app):
    with app.app_context():
        return store.config_version(db.session)


def _add(flask, name="deepseek", *extra):
    return flask("upstreams", "add", name, "--kind", "openai", "--base-url", "https://api.deepseek.com/v1",
                 "--models", "deepseek-chat,deepseek-*", *extra)


# --- add, list, show -------------------------------------------------------------


def test_add_stores_the_upstream_and_bumps_the_version(app, flask):
    before = _version(app)
    result = ok(_add(flask, "deepseek", "--priority", "5"))
    assert "Added upstream 'deepseek'" in result.stderr and "keys add deepseek" in result.stderr
    row = _row(app, "deepseek")
    assert (row.kind, row.base_url, row.model_list, row.default_model, row.priority, row.enabled) == (
        "openai", "https://api.deepseek.com/v1", ["deepseek-chat", "deepseek-*"], "deepseek-chat", 5, True)
    assert row.keys == []
    assert _version(app) == before + 1


def test_add_disabled_with_a_default_model_and_a_trailing_slash(app, flask):
    ok(flask("upstreams", "add", "qwen", "--kind", "openai", "--base-url",
             "https://dashscope.aliyuncs.com/compatible-mode/v1/", "--models", "qwen-*", "--default-model",
             "qwen-plus", "--disabled"))
    row = _row(app, "qwen")
    assert (row.base_url, row.model_list, row.default_model, row.priority, row.enabled) == (
        "https://dashscope.aliyuncs.com/compatible-mode/v1", ["qwen-*"], "qwen-plus", 0, False)


def test_a_gemini_upstream(app, flask):
    ok(flask("upstreams", "add", "gemini-eu", "--kind", "gemini", "--base-url",
             "https://generativelanguage.googleapis.com", "--models", "gemini-2.5-flash,gemini-*"))
    assert _row(app, "gemini-eu").kind == "gemini"


@pytest.mark.parametrize("args, message", [
    (["--kind", "anthropic"], "unknown kind 'anthropic': expected one of openai, gemini"),
    (["--kind", "demo"], "unknown kind 'demo'"),
    (["--base-url", "ftp://api.example.com/v1"], "expected an http:// or https:// URL with a host"),
    (["--base-url", "api.deepseek.com/v1"], "expected an http:// or https:// URL with a host"),
    (["--base-url", "https://"], "expected an http:// or https:// URL with a host"),
    (["--base-url", "https://user:pw@api.example.com"], "put no credentials in the URL"),
    (["--models", "deepseek chat"], "no spaces or control characters"),
    (["--models", "deepseek-[ab]"], "only '*' and '?' are wildcards"),
    (["--models", " , "], "name at least one model or pattern"),
    (["--models", "x" * 129], "expected 1 to 128 characters"),
    (["--models", "deepseek-*"], "every model given is a pattern"),
    (["--default-model", "deepseek-*"], "name one model, not a pattern"),
    (["--priority", "high"], "priority 'high': expected a whole number"),
    (["--priority", "100000"], "priority 100000: expected a whole number from -1000 to 1000"),
])
def test_bad_input_to_add_is_refused_with_exit_code_2(app, flask, args, message):
    options = {"--kind": "openai", "--base-url": "https://api.deepseek.com/v1", "--models": "deepseek-chat"}
    extra = []
    for option, value in zip(args[::2], args[1::2]):
        if option in options:
            options[option] = value
        else:
            extra += [option, value]
    before = _version(app)
    refused(flask("upstreams", "add", "deepseek", *[p for pair in options.items() for p in pair], *extra), message)
    assert _row(app, "deepseek") is None
    assert _version(app) == before, "a refused change bumps nothing"


@pytest.mark.parametrize("name", ["DeepSeek", "deep/seek", "_x", "", "x" * 33])
def test_a_bad_name_is_refused(app, flask, name):
    refused(_add(flask, name), "upstream name")


def test_a_duplicate_name_is_refused(app, flask):
    ok(_add(flask))
    before = _version(app)
    refused(_add(flask), "an upstream called 'deepseek' already exists")
    assert _version(app) == before


def test_the_names_the_environment_defines_are_taken(make_upstreams_app, fake_openai):
    app = make_upstreams_app(OPENAI_API_KEY=list(OPENAI_KEYS), OPENAI_BASE_URL=fake_openai.base_url)
    runner = app.test_cli_runner()
    refused(runner.invoke(args=["upstreams", "add", "openai", "--kind", "openai", "--base-url", "https://x.example",
                                "--models", "gpt-4o"]), "upstream name 'openai' is taken by the environment")
    ok(runner.invoke(args=["upstreams", "add", "gemini", "--kind", "gemini", "--base-url", "https://x.example",
                           "--models", "gemini-2.5-flash"]))  # no GEMINI_API_KEY here: free
    for args in (["update", "openai", "--priority", "3"], ["disable", "openai"], ["remove", "openai", "--yes"],
                 ["keys", "add", "openai", "--label", "x"]):
        refused(runner.invoke(args=["upstreams", *args], input="sk-whatever-0001\n"),
                "upstream 'openai' is defined by the environment")


def test_list_shows_the_environment_and_the_database_upstreams(make_upstreams_app, fake_openai):
    app = make_upstreams_app(OPENAI_API_KEY=list(OPENAI_KEYS), OPENAI_BASE_URL=fake_openai.base_url)
    runner = app.test_cli_runner()
    ok(runner.invoke(args=["upstreams", "add", "deepseek", "--kind", "openai", "--base-url",
                           "https://api.deepseek.com/v1", "--models", "deepseek-chat,deepseek-*", "--priority", "5"]))
    ok(runner.invoke(args=["upstreams", "keys", "add", "deepseek", "--label", "main"], input=DEEPSEEK_KEY + "\n"))
    table = ok(runner.invoke(args=["upstreams", "list"])).stdout.splitlines()
    assert table[0].split() == ["NAME", "KIND", "SOURCE", "STATE", "PRIORITY", "DEFAULT", "MODEL", "KEYS", "MODELS",
                                "BASE", "URL"]
    assert table[1].split()[:3] == ["openai", "openai", "environment"] and "2/2" in table[1]
    assert table[2].split()[:7] == ["deepseek", "openai", "database", "enabled", "5", "deepseek-chat", "1/1"]
    listed = json.loads(ok(runner.invoke(args=["upstreams", "list", "--json"])).stdout)
    assert [(u["name"], u["source"]) for u in listed] == [("openai", "environment"), ("deepseek", "database")]
    deepseek = listed[1]
    assert deepseek["models"] == ["deepseek-chat", "deepseek-*"] and deepseek["priority"] == 5
    assert deepseek["keys"] == [{"label": "main", "hint": f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}", "enabled": True,
                                 "state": "active", "why": None, "benched_at": None, "benched_status": None,
                                 "last_used_at": None, "last_error_code": None, "last_error_at": None}]
    assert datetime.fromisoformat(deepseek["created_at"]).tzinfo is not None
    assert [k["label"] for k in listed[0]["keys"]] == ["openai#1", "openai#2"]
    shown = json.loads(ok(runner.invoke(args=["upstreams", "show", "openai", "--json"])).stdout)
    assert shown["keys"][0]["hint"] == OPENAI_KEYS[0][:4] + "…" + OPENAI_KEYS[0][-4:]


def test_an_empty_list_says_how_to_add_one(app, flask):
    result = ok(flask("upstreams", "list"))
    assert result.stdout == "" and "flask upstreams add NAME" in result.stderr
    assert json.loads(ok(flask("upstreams", "list", "--json")).stdout) == []


def test_show_prints_the_fields_and_the_keys(app, flask, deepseek):
    out = ok(flask("upstreams", "show", "deepseek")).stdout
    assert "name:          deepseek" in out and "default model: deepseek-chat" in out
    assert "models:        deepseek-chat, deepseek-*" in out and "priority:      5" in out
    header, line = out.splitlines()[-2:]
    assert header.split() == ["LABEL", "KEY", "STATE", "LAST", "USED", "LAST", "ERROR"]
    assert line.split() == ["main", f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}", "active", "-", "-"]
    shown = json.loads(ok(flask("upstreams", "show", "deepseek", "--json")).stdout)
    assert shown["name"] == "deepseek" and shown["kind"] == "openai" and shown["source"] == "database"


def test_unknown_upstreams_are_refused_everywhere(app, flask):
    for args in (["show", "nope"], ["show", "nope", "--json"], ["update", "nope", "--priority", "1"],
                 ["disable", "nope"], ["enable", "nope"], ["remove", "nope", "--yes"], ["test", "nope"],
                 ["keys", "list", "nope"], ["keys", "add", "nope", "--label", "x"], ["keys", "disable", "nope", "x"],
                 ["keys", "enable", "nope", "x"], ["keys", "remove", "nope", "x"]):
        refused(flask("upstreams", *args, input="sk-whatever-0001\n"), "no upstream called 'nope'")


# --- update, disable, enable, remove ---------------------------------------------


def test_update_changes_what_is_given(app, flask, deepseek):
    before = _version(app)
    ok(flask("upstreams", "update", "deepseek", "--base-url", "https://proxy.example.com/v1", "--priority", "-3"))
    row = _row(app, "deepseek")
    assert (row.base_url, row.priority, row.model_list, row.default_model) == (
        "https://proxy.example.com/v1", -3, ["deepseek-chat", "deepseek-*"], "deepseek-chat")
    ok(flask("upstreams", "update", "deepseek", "--models", "deepseek-reasoner", "--default-model",
             "deepseek-reasoner"))
    row = _row(app, "deepseek")
    assert (row.model_list, row.default_model) == (["deepseek-reasoner"], "deepseek-reasoner")
    assert [k.label for k in row.keys] == ["main"], "the keys stay"
    assert _version(app) == before + 2


@pytest.mark.parametrize("args, message", [
    ([], "nothing to change"),
    (["--base-url", "file:///etc/passwd"], "expected an http:// or https:// URL"),
    (["--models", "a b"], "no spaces"),
    (["--default-model", "deepseek-*"], "not a pattern"),
    (["--priority", "1.5"], "expected a whole number"),
])
def test_bad_updates_are_refused(app, flask, deepseek, args, message):
    before = _version(app)
    refused(flask("upstreams", "update", "deepseek", *args), message)
    assert _row(app, "deepseek").base_url == "https://api.deepseek.com/v1"
    assert _version(app) == before


def test_disable_and_enable(app, flask, deepseek):
    before = _version(app)
    assert "Disabled upstream 'deepseek'" in ok(flask("upstreams", "disable", "deepseek")).stderr
    assert _row(app, "deepseek").enabled is False
    assert "already disabled" in ok(flask("upstreams", "disable", "deepseek")).stderr
    assert json.loads(ok(flask("upstreams", "show", "deepseek", "--json")).stdout)["enabled"] is False
    assert "Enabled upstream 'deepseek'" in ok(flask("upstreams", "enable", "deepseek")).stderr
    assert _row(app, "deepseek").enabled is True
    assert _version(app) > before


def test_remove_asks_first_and_takes_the_keys_with_it(app, flask, deepseek):
    result = flask("upstreams", "remove", "deepseek", input="n\n")
    assert result.exit_code != 0 and "Remove upstream 'deepseek' and its 1 key?" in result.stderr
    assert _row(app, "deepseek") is not None
    result = ok(flask("upstreams", "remove", "deepseek", input="y\n"))
    assert "Removed upstream 'deepseek' and 1 key" in result.stderr
    assert _row(app, "deepseek") is None
    with app.app_context():
        assert db.session.execute(db.select(UpstreamKey)).scalars().all() == [], "no orphan key rows"


def test_remove_yes_does_not_ask(app, flask, deepseek):
    result = ok(flask("upstreams", "remove", "deepseek", "--yes"))
    assert "?" not in result.stderr and _row(app, "deepseek") is None


# --- keys ------------------------------------------------------------------------


def test_a_key_is_read_from_the_first_line_of_stdin_and_stored_encrypted(app, flask):
    ok(_add(flask))
    before = _version(app)
    result = ok(flask("upstreams", "keys", "add", "deepseek", "--label", "main",
                      input=f"  {DEEPSEEK_KEY}  \r\nsecond line\n"))
    hint = f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}"
    assert f"Added key 'main' ({hint}) to 'deepseek'" in result.stderr
    (key,) = _row(app, "deepseek").keys
    assert key.hint == hint and key.enabled and key.label == "main"
    assert DEEPSEEK_KEY not in key.secret_encrypted
    assert Fernet(OLD_KEY.encode()).decrypt(key.secret_encrypted.encode()).decode() == DEEPSEEK_KEY
    assert _version(app) == before + 1


@pytest.mark.parametrize("stdin, message", [
    ("", "no key on standard input"),
    ("\n", "no key on standard input"),
    ("   \nsk-on-the-second-line-0001\n", "no key on standard input"),
    ("sk-with a-space-000001\n", "the key contains spaces or control characters"),
    ("sk-with\tcontrol-000001\n", "the key contains spaces or control characters"),
])
def test_an_empty_or_broken_key_is_refused(app, flask, stdin, message):
    ok(_add(flask))
    refused(flask("upstreams", "keys", "add", "deepseek", "--label", "main", input=stdin), message)
    assert _row(app, "deepseek").keys == []


def test_labels_are_unique_per_upstream_and_a_key_is_stored_once(app, flask, deepseek):
    refused(flask("upstreams", "keys", "add", "deepseek", "--label", "main", input=QWEN_KEY + "\n"),
            "already has a key labelled 'main'")
    refused(flask("upstreams", "keys", "add", "deepseek", "--label", "backup", input=DEEPSEEK_KEY + "\n"),
            "already has this key, labelled 'main'")
    refused(flask("upstreams", "keys", "add", "deepseek", "--label", "bad label", input=QWEN_KEY + "\n"),
            "key label 'bad label'")
    ok(flask("upstreams", "keys", "add", "deepseek", "--label", "backup", input=QWEN_KEY + "\n"))
    ok(flask("upstreams", "add", "other", "--kind", "openai", "--base-url", "https://o.example/v1", "--models", "m"))
    ok(flask("upstreams", "keys", "add", "other", "--label", "main", input=QWEN_KEY + "\n"))  # another upstream
    assert [k.label for k in _row(app, "deepseek").keys] == ["main", "backup"]


def test_keys_list_disable_enable_remove(app, flask, deepseek):
    ok(flask("upstreams", "keys", "add", "deepseek", "--label", "backup", input=QWEN_KEY + "\n"))
    listed = json.loads(ok(flask("upstreams", "keys", "list", "deepseek", "--json")).stdout)
    assert [(k["label"], k["hint"], k["state"]) for k in listed] == [
        ("main", f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}", "active"),
        ("backup", f"{QWEN_KEY[:4]}…{QWEN_KEY[-4:]}", "active")]
    before = _version(app)
    assert "Disabled key 'main' of 'deepseek'" in ok(flask("upstreams", "keys", "disable", "deepseek", "main")).stderr
    assert "already disabled" in ok(flask("upstreams", "keys", "disable", "deepseek", "main")).stderr
    table = ok(flask("upstreams", "keys", "list", "deepseek")).stdout.splitlines()
    assert table[1].split()[:3] == ["main", f"{DEEPSEEK_KEY[:4]}…{DEEPSEEK_KEY[-4:]}", "disabled"]
    assert table[2].split()[2] == "active"
    ok(flask("upstreams", "keys", "enable", "deepseek", "main"))
    assert all(k.enabled for k in _row(app, "deepseek").keys)
    ok(flask("upstreams", "keys", "remove", "deepseek", "backup"))
    assert [k.label for k in _row(app, "deepseek").keys] == ["main"]
    assert _version(app) == before + 4
    for args in (["disable", "deepseek", "nope"], ["enable", "deepseek", "nope"], ["remove", "deepseek", "nope"]):
        refused(flask("upstreams", "keys", *args), "upstream 'deepseek' has no key labelled 'nope'")


def _attempts(**fields):
    """A usage row of the `deepseek` upstream's key `main` (naming the upstream the way the log does)."""
    row = log_row(fields.pop("created_at"), **{"provider": "deepseek", "key_label": "main", **fields})
    if hasattr(AIUsageLog, "upstream"):
        row.update(provider="openai", upstream="deepseek")
    return row


def test_a_key_refused_by_upstream_is_listed_as_benched_until_it_answers_again(app, flask, deepseek):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    write_logs(app, [
        _attempts(created_at=now - timedelta(minutes=30)),
        _attempts(created_at=now - timedelta(minutes=10), status="error", http_status=401,
                  error_code="upstream_key_invalid", error_message="Incorrect API key provided"),
        _attempts(created_at=now - timedelta(minutes=5), key_label="other", status="success"),  # another key
    ])
    (key,) = json.loads(ok(flask("upstreams", "keys", "list", "deepseek", "--json")).stdout)
    assert key["state"] == "benched"
    assert key["why"] == (f"upstream_key_invalid (HTTP 401) since "
                          f"{(now - timedelta(minutes=10)):%Y-%m-%d %H:%M} UTC")
    assert datetime.fromisoformat(key["last_used_at"]) == now - timedelta(minutes=10)
    assert key["last_error_code"] == "upstream_key_invalid"
    assert datetime.fromisoformat(key["last_error_at"]) == now - timedelta(minutes=10)
    line = ok(flask("upstreams", "keys", "list", "deepseek")).stdout.splitlines()[1]
    assert "benched: upstream_key_invalid (HTTP 401)" in line
    assert json.loads(ok(flask("upstreams", "list", "--json")).stdout)[0]["keys"][0]["state"] == "benched"

    write_logs(app, [_attempts(created_at=now - timedelta(minutes=1))])  # the key was replaced upstream
    (key,) = json.loads(ok(flask("upstreams", "keys", "list", "deepseek", "--json")).stdout)
    assert (key["state"], key["why"]) == ("active", None)
    assert datetime.fromisoformat(key["last_used_at"]) == now - timedelta(minutes=1)
    assert key["last_error_code"] == "upstream_key_invalid", "the last error stays listed"

    ok(flask("upstreams", "keys", "disable", "deepseek", "main"))
    (key,) = json.loads(ok(flask("upstreams", "keys", "list", "deepseek", "--json")).stdout)
    assert key["state"] == "disabled"


# --- test ------------------------------------------------------------------------


def _fake_upstream(flask, fake_openai, key=OPENAI_KEYS[0], *extra):
    ok(flask("upstreams", "add", "fake", "--kind", "openai", "--base-url", fake_openai.base_url,
             "--models", "gpt-4o-mini", *extra))
    ok(flask("upstreams", "keys", "add", "fake", "--label", "main", input=key + "\n"))


def test_test_makes_one_tiny_call_and_reports_result_model_and_latency(app, flask, fake_openai):
    _fake_upstream(flask, fake_openai, OPENAI_KEYS[0], "--disabled")
    result = ok(flask("upstreams", "test", "fake"))
    assert result.stdout.startswith("ok: fake (key 'main') answered in ")
    assert " ms with model gpt-4o-mini" in result.stdout and "tokens" in result.stdout
    (sent,) = fake_openai.requests
    assert sent.key == OPENAI_KEYS[0] and sent.json["model"] == "gpt-4o-mini"
    assert (sent.json.get("max_tokens") or sent.json.get("max_completion_tokens")) <= 5


def test_test_of_a_refused_key_fails_without_showing_it(app, flask, fake_openai):
    _fake_upstream(flask, fake_openai, OPENAI_KEYS[1])
    ok(flask("upstreams", "keys", "add", "fake", "--label", "other", input=OPENAI_KEYS[0] + "\n"))
    # An upstream that echoes the whole key in its refusal.
    fake_openai.plan(key=OPENAI_KEYS[1], error="invalid_api_key",
                     message=f"Incorrect API key provided: {OPENAI_KEYS[1]}.")
    result = flask("upstreams", "test", "fake")
    assert result.exit_code == 1, result.output
    assert "fake (key 'main'): failed after" in result.stderr and "upstream_key_invalid (HTTP 401)" in result.stderr
    assert OPENAI_KEYS[1] not in result.output
    assert ok(flask("upstreams", "test", "fake", "--label", "other")).stdout.startswith("ok: fake (key 'other')")
    (last,) = fake_openai.requests[-1:]
    assert last.key == OPENAI_KEYS[0]


def test_test_without_a_usable_key_is_refused(app, flask, fake_openai):
    ok(flask("upstreams", "add", "fake", "--kind", "openai", "--base-url", fake_openai.base_url, "--models", "m"))
    refused(flask("upstreams", "test", "fake"), "upstream 'fake' has no enabled key")
    refused(flask("upstreams", "test", "fake", "--label", "x"), "upstream 'fake' has no key labelled 'x'")
    assert fake_openai.requests == []


# --- nothing shows a key whole --------------------------------------------------


def test_no_command_prints_a_key_whole(app, flask, fake_openai):
    outputs = []

    def run(*args, input=None):
        result = flask("upstreams", *args, input=input)
        outputs.append(result.output)
        return result

    ok(run("add", "fake", "--kind", "openai", "--base-url", fake_openai.base_url, "--models", "gpt-4o-mini"))
    ok(run("keys", "add", "fake", "--label", "main", input=OPENAI_KEYS[0] + "\n"))
    ok(run("keys", "add", "fake", "--label", "second", input=DEEPSEEK_KEY + "\n"))
    run("keys", "add", "fake", "--label", "again", input=DEEPSEEK_KEY + "\n")  # refused: already stored
    for args in (["list"], ["list", "--json"], ["show", "fake"], ["show", "fake", "--json"], ["keys", "list", "fake"],
                 ["keys", "list", "fake", "--json"], ["test", "fake"], ["test", "fake", "--label", "second"],
                 ["reencrypt"], ["update", "fake", "--priority", "2"], ["keys", "disable", "fake", "second"]):
        run(*args)
    assert len(outputs) == 15
    for output in outputs:
        assert OPENAI_KEYS[0] not in output and DEEPSEEK_KEY not in output
