"""`flask verify --url`: a deployed instance checked from outside, as a deploy pipeline runs it."""
import json
import socket

import pytest

from tests.fakes import closed_port
from tests.tokenizer import install_cl100k


def remote(app, base, *args, env=None):
    """(click result, JSON document, checks by name) of `flask verify --url BASE --json …`."""
    result = app.test_cli_runner().invoke(args=["verify", "--url", base, "--json", *args], env=env)
    document = json.loads(result.output)
    return result, document, {c["name"]: c for c in document["checks"]}


@pytest.fixture
def server(serve_gunicorn, make_app, tmp_path):
    """A real gunicorn+gevent instance on the fake OpenAI, with nothing to complain about (its client key stored,
    not in AICHAT_API_KEYS)."""
    install_cl100k(tmp_path / "tiktoken")
    assert make_app().test_cli_runner().invoke(args=["keys", "create", "--site", "localhost"]).exit_code == 0
    return serve_gunicorn(workers=1, OPENAI_MODEL="gpt-4", TIKTOKEN_CACHE_DIR=str(tmp_path / "tiktoken"),
                          AICHAT_API_KEYS="")


def test_a_healthy_instance_is_all_ok_with_its_server_checks(server, make_admin, make_app):
    _, token = make_admin(server.reader)
    result, document, found = remote(make_app(), server.base, "--token", token)
    assert result.exit_code == 0, result.output
    assert list(document) == ["ok", "status", "version", "url", "checks"]
    from aichat import __version__
    assert document["ok"] is True and document["version"] == __version__ and document["url"] == server.base
    names = [c["name"] for c in document["checks"]]
    assert names[:4] == ["transport", "health", "ready", "verify"] and names[-1] == "chat"
    assert {"server:database", "server:provider:openai", "server:routes", "server:errors"} <= set(names)
    assert {name: c["reason"] for name, c in found.items() if c["status"] != "ok"} == {}
    assert all(isinstance(c["ms"], (int, float)) for c in document["checks"])
    assert found["chat"]["reason"].startswith("answered by openai (gpt-4) in ")
    assert found["verify"]["reason"].startswith(f"{len(names) - 5} server checks: {len(names) - 5} ok, 0 warn, 0 fail")
    assert token not in result.output


def test_the_token_may_come_from_the_environment_and_live_reaches_the_server(server, make_admin, make_app,
                                                                             fake_openai):
    _, token = make_admin(server.reader)
    result, _, found = remote(make_app(), server.base, "--live", env={"AICHAT_VERIFY_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert "live call answered in" in found["server:provider:openai"]["reason"]
    bodies = [r.json for r in fake_openai.requests]
    assert sum(b["max_tokens"] == 5 for b in bodies) == 2  # the server's live call and the chat smoke test


def test_without_a_token_the_server_checks_are_skipped_with_a_warning(server, make_app):
    result, document, found = remote(make_app(), server.base)
    assert result.exit_code == 0
    assert document["status"] == "warn" and document["version"] is None
    assert found["verify"]["status"] == "warn"
    assert found["verify"]["reason"].startswith("skipped: pass --token or set AICHAT_VERIFY_TOKEN")
    assert not any(name.startswith("server:") for name in found)
    assert found["health"]["status"] == found["ready"]["status"] == found["chat"]["status"] == "ok"


def test_a_wrong_token_fails(server, make_admin, make_app):
    make_admin(server.reader)
    result, _, found = remote(make_app(), server.base, "--token", "aic_wrong")
    assert result.exit_code == 1
    assert found["verify"]["status"] == "fail" and "the token was refused" in found["verify"]["reason"]


def test_a_failing_upstream_fails_the_chat_smoke_check(server, make_admin, make_app, fake_openai):
    fake_openai.default = fake_openai.default.replace(error="overloaded")
    result, _, found = remote(make_app(), server.base)
    assert result.exit_code == 1
    assert found["chat"]["status"] == "fail"
    assert found["chat"]["reason"].startswith("POST /api/v1/ai-proxy/chat answered HTTP 50")
    assert found["health"]["status"] == "ok"


def test_nothing_listening_fails_every_call_and_exits_one(make_app):
    base = f"http://127.0.0.1:{closed_port()}"
    result, document, found = remote(make_app(), base, "--token", "aic_any", "--timeout", "2")
    assert result.exit_code == 1 and document["ok"] is False
    for name in ("health", "ready", "verify", "chat"):
        assert found[name]["status"] == "fail"
        assert found[name]["reason"].startswith(f"connection refused at {base[7:]}: is aichat")
    table = make_app().test_cli_runner().invoke(args=["verify", "--url", base, "--timeout", "2"])
    assert table.exit_code == 1 and "FAILED" in table.output.splitlines()[-1]


def test_an_answer_that_is_not_json_says_so(make_app, live_server):
    from flask import Flask

    other = Flask("other")
    other.add_url_rule("/health", "health", lambda: "<html>welcome to nginx</html>")
    result, _, found = remote(make_app(), live_server(other), "--timeout", "2")
    assert result.exit_code == 1
    assert found["health"]["reason"].startswith("answered HTTP 200 with text/html, not JSON")
    assert found["ready"]["reason"].startswith("answered HTTP 404 with text/html, not JSON")


def test_tls_to_a_plain_listener_and_a_silent_server_are_named(make_app, live_server):
    from flask import Flask

    plain = live_server(Flask("plain")).replace("http://", "https://")
    found = remote(make_app(), plain, "--timeout", "2")[2]
    assert found["health"]["reason"].startswith(f"TLS with {plain[8:]} failed")
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result, _, found = remote(make_app(), base, "--timeout", "0.5")
    assert result.exit_code == 1
    assert found["health"]["reason"].startswith(f"{base[7:]} accepted the connection but sent no answer within 0.5 s")


@pytest.mark.parametrize("url", ["ftp://example.com", "http://[::1", "https://"])
def test_a_url_that_is_not_http_fails_at_once(make_app, url):
    result, _, found = remote(make_app(), url)
    assert result.exit_code == 1 and list(found) == ["url"]
    assert "is not an http(s) URL" in found["url"]["reason"]


def test_a_password_in_the_url_is_never_printed(make_app):
    """Basic auth for a proxy in front (https://user:password@host): the output names the host only."""
    port = closed_port()
    result, document, found = remote(make_app(), f"http://deploy:pw-s3cret@127.0.0.1:{port}", "--timeout", "2")
    assert result.exit_code == 1
    assert document["url"] == f"http://127.0.0.1:{port}"
    assert found["health"]["reason"].startswith(f"connection refused at 127.0.0.1:{port}: ")
    assert "pw-s3cret" not in result.output and "deploy:" not in result.output


def test_plain_http_to_another_host_warns_about_the_token(make_app):
    from aichat.health.remote import _transport
    from urllib.parse import urlsplit

    assert _transport(urlsplit("https://chat.example.com"), "aic_x").status == "ok"
    found = _transport(urlsplit("http://chat.example.com"), "aic_x")
    assert found.status == "warn" and "(the admin token included) travel unencrypted" in found.reason
