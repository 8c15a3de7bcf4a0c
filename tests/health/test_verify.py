"""`flask verify`: ok, warn and fail per check, the exit code, the JSON shape and the table."""
import json
import secrets
import threading
from importlib import metadata

import pytest

from aichat import create_app
from aichat.health import checks
from aichat.health.checks import host, services
from aichat.runtime import runtime_of
from tests.conftest import CLIENT_KEY, GEMINI_KEYS, OPENAI_KEYS, reachable, require_service
from tests.fakes import closed_port
from tests.tokenizer import install_cl100k

STRONG_KEY = secrets.token_urlsafe(48)


def verify(app, *args, env=None):
    """(click result, JSON document, checks by name) of `flask verify --json …`."""
    result = app.test_cli_runner().invoke(args=["verify", "--json", *args], env=env)
    document = json.loads(result.output)
    return result, document, {c["name"]: c for c in document["checks"]}


@pytest.fixture
def healthy(gateway_app, tmp_path):
    """An install with nothing to complain about (in development: SQLite is fine there)."""
    install_cl100k(tmp_path)

    def build(**overrides):
        settings = dict(SECRET_KEY=STRONG_KEY, AICHAT_ENV="development", AICHAT_WORKERS=1, OPENAI_MODEL="gpt-4",
                        TIKTOKEN_CACHE_DIR=str(tmp_path), AICHAT_API_KEYS=[])
        app = gateway_app(**{**settings, **overrides})
        if "AICHAT_API_KEYS" not in overrides:  # a stored client key, as an install without the old setting has
            assert app.test_cli_runner().invoke(args=["keys", "create", "--site", "localhost"]).exit_code == 0
            runtime_of(app).tenancy.poll()
        return app

    return build


def test_a_healthy_install_is_all_ok_and_exits_zero(healthy):
    result, document, found = verify(healthy())
    assert result.exit_code == 0, result.output
    assert list(document) == ["ok", "status", "version", "checks"]
    assert document["ok"] is True and document["status"] == "ok"
    from aichat import __version__
    assert document["version"] == __version__
    assert [c["name"] for c in document["checks"]] == [
        "instance", "process", "secret_key", "debug", "settings", "client_keys", "cookies", "exposed_keys",
        "database", "encryption", "rate_limits", "provider:gemini", "provider:openai", "routes", "frontends", "errors",
        "tokenizer", "prices", "python"]
    assert all(list(c) == ["name", "status", "reason", "ms"] for c in document["checks"])
    assert all(isinstance(c["ms"], (int, float)) and c["ms"] >= 0 for c in document["checks"])
    not_ok = {name: c["reason"] for name, c in found.items() if c["status"] != "ok"}
    assert not_ok == {}
    assert "migrations at head" in found["database"]["reason"]
    assert "2 keys (gemini#1, gemini#2), model gemini-2.5-flash, circuit closed" in found["provider:gemini"]["reason"]
    assert "AICHAT_ENV=development" in found["process"]["reason"]
    assert found["client_keys"]["reason"] == "1 client key in the database (flask keys list)"
    for key in OPENAI_KEYS + GEMINI_KEYS + [CLIENT_KEY, STRONG_KEY]:
        assert key not in result.output


def test_the_human_table_has_a_header_a_line_per_check_and_a_summary(healthy):
    app = healthy(AICHAT_API_KEYS=[])
    result = app.test_cli_runner().invoke(args=["verify"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "MS", "REASON"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:20]}
    assert len(rows) == 19 and rows["client_keys"] == "WARN" and rows["database"] == "OK"
    assert lines[-1].startswith("18 ok, 1 warn, 0 fail - aichat ")


@pytest.mark.parametrize("env, key, status, words", [
    ("production", "dev-insecure-change-me", "fail", "built-in placeholder"),
    ("development", "dev-insecure-change-me", "warn", "built-in placeholder"),
    ("production", "changeme", "fail", "well-known"),
    ("production", "x" * 48, "fail", "trivial"),
    ("production", "a-short-but-random-9f3k", "fail", "only 23 characters"),
    ("development", "a-short-but-random-9f3k", "warn", "only 23 characters"),
    ("production", STRONG_KEY, "ok", "set in the environment"),
])
def test_a_weak_secret_key_fails_in_production_and_warns_in_development(healthy, env, key, status, words):
    result, document, found = verify(healthy(SECRET_KEY=key, AICHAT_ENV=env))
    assert found["secret_key"]["status"] == status, found["secret_key"]
    assert words in found["secret_key"]["reason"]
    assert "same SECRET_KEY" in found["secret_key"]["reason"] or status != "ok"
    assert result.exit_code == (1 if status == "fail" else 0)
    assert key not in result.output


def test_a_key_generated_in_the_instance_folder_is_named_as_such(healthy, tmp_path):
    """Where does the key come from, and what must change before a second instance?"""
    app = healthy()
    app.instance_path = str(tmp_path / "instance")
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "secret_key").write_text(STRONG_KEY)
    found = verify(app)[2]["secret_key"]
    assert found["status"] == "ok"
    assert f"generated in {tmp_path / 'instance'}/secret_key" in found["reason"]
    assert "set SECRET_KEY in the environment" in found["reason"]


@pytest.mark.parametrize("env, status", [("production", "fail"), ("development", "ok")])
def test_debug_fails_in_production_only(healthy, env, status):
    app = healthy(AICHAT_ENV=env, SESSION_COOKIE_SECURE=True)
    assert verify(app)[2]["debug"]["status"] == "ok"
    result, _, found = verify(app, env={"FLASK_DEBUG": "1"})
    assert found["debug"]["status"] == status
    assert result.exit_code == (1 if status == "fail" else 0)
    if status == "fail":
        assert "unset FLASK_DEBUG" in found["debug"]["reason"]


@pytest.mark.parametrize("where, words", [
    ("under a regular file", "is missing or not a folder"),
    ("/proc/1", "cannot write to /proc/1"),
])
def test_an_instance_folder_that_cannot_take_a_write_fails(healthy, tmp_path, where, words):
    """Tests run as root, where os.access says yes to everything: only a real write tells."""
    app = healthy()
    assert verify(app)[2]["instance"]["status"] == "ok"
    if where == "under a regular file":
        (tmp_path / "file").write_text("not a folder")
        where = str(tmp_path / "file" / "instance")
    app.instance_path = where
    result, _, found = verify(app)
    assert result.exit_code == 1
    assert found["instance"]["status"] == "fail" and words in found["instance"]["reason"]
    assert "write access" in found["instance"]["reason"] or "create it" in found["instance"]["reason"]


def test_invalid_settings_fail_naming_each(healthy):
    app = healthy(AICHAT_LOGIN_RATE_LIMIT="lots", AICHAT_PROVIDER_ORDER=["gemini", "x"],
                  AICHAT_ALLOWED_ORIGINS=["example.com/chat"], AICHAT_TOTAL_TIMEOUT=0,
                  AICHAT_DEFAULT_MODEL="claude-9")
    result, _, found = verify(app)
    assert result.exit_code == 1
    reason = found["settings"]["reason"]
    assert found["settings"]["status"] == "fail"
    for words in ("AICHAT_LOGIN_RATE_LIMIT ('lots'", "AICHAT_PROVIDER_ORDER (unknown x",
                  "AICHAT_ALLOWED_ORIGINS ('example.com/chat'", "AICHAT_TOTAL_TIMEOUT (must be a positive number",
                  "AICHAT_DEFAULT_MODEL ('claude-9'"):
        assert words in reason
    assert "AICHAT_RATE_LIMIT (" not in reason


def test_aichat_api_keys_is_a_setting_to_migrate(healthy):
    """The old setting still works, and verify says to replace it with stored keys, never showing a key."""
    result, _, found = verify(healthy(AICHAT_API_KEYS=[CLIENT_KEY, "short"]))
    reason = found["client_keys"]["reason"]
    assert result.exit_code == 0 and found["client_keys"]["status"] == "warn"
    assert "a setting to migrate" in reason and "`flask keys create --site DOMAIN`" in reason
    assert "AICHAT_API_KEYS holds 2 keys; 1 of them shorter than 20 characters" in reason
    assert CLIENT_KEY not in result.output and "short" not in reason.replace("shorter", "")


def test_production_warnings_an_operator_wants(healthy):
    app = healthy(AICHAT_ENV="production", AICHAT_API_KEYS=[], AICHAT_WORKERS=4, SESSION_COOKIE_SECURE=False)
    result, document, found = verify(app)
    assert result.exit_code == 0 and document["status"] == "warn"
    assert found["client_keys"]["status"] == "warn" and "/v1/chat/completions" in found["client_keys"]["reason"]
    assert "flask keys create" in found["client_keys"]["reason"]
    assert found["cookies"]["status"] == "warn" and "SESSION_COOKIE_SECURE=true" in found["cookies"]["reason"]
    assert found["rate_limits"]["status"] == "warn" and "up to 4x AICHAT_RATE_LIMIT" in found["rate_limits"]["reason"]
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        assert found["database"]["status"] == "warn" and "PostgreSQL" in found["database"]["reason"]
    fixed = healthy(AICHAT_ENV="production", SESSION_COOKIE_SECURE=True, REDIS_URL="",
                    AICHAT_API_KEYS=["short"], RATELIMIT_STORAGE_URI="memory://")
    found = verify(fixed)[2]
    assert found["cookies"]["status"] == "ok"
    assert found["client_keys"]["status"] == "warn" and "shorter than 20" in found["client_keys"]["reason"]


def test_a_key_in_a_served_file_fails_naming_the_file_and_setting_not_the_key(healthy, tmp_path):
    static, templates = tmp_path / "static", tmp_path / "templates"
    (static / "js").mkdir(parents=True)
    templates.mkdir()
    (static / "js" / "chat.js").write_text(f'const key = "{OPENAI_KEYS[1]}";\n')
    (static / "style.css").write_text("body { color: red }\n")
    (templates / "page.html").write_text(f"<meta name=k content={CLIENT_KEY}>")
    app = healthy(AICHAT_API_KEYS=[CLIENT_KEY])
    assert verify(app)[2]["exposed_keys"]["status"] == "ok"
    app.static_folder, app.template_folder = str(static), str(templates)
    result, _, found = verify(app)
    assert result.exit_code == 1
    reason = found["exposed_keys"]["reason"]
    assert found["exposed_keys"]["status"] == "fail"
    assert "static/js/chat.js holds the value of OPENAI_API_KEY" in reason
    assert "templates/page.html holds the value of AICHAT_API_KEYS" in reason
    assert "style.css" not in reason and "revoke" in reason
    assert OPENAI_KEYS[1] not in result.output and CLIENT_KEY not in result.output


def test_a_key_shaped_string_fails_even_when_not_configured(healthy, tmp_path):
    (tmp_path / "templates").mkdir()
    google = "AIza" + "Sy" + "B" * 33
    (tmp_path / "templates" / "embed.html").write_text(f"<script>init('{google}')</script>")
    (tmp_path / "templates" / "ok.html").write_text("<p>ask-questions-freely-and-often-here</p> task-sk-notakey")
    app = healthy()
    app.template_folder = str(tmp_path / "templates")
    found = verify(app)[2]["exposed_keys"]
    assert found["status"] == "fail" and "templates/embed.html holds a Google API key" in found["reason"]
    assert "ok.html" not in found["reason"] and google not in found["reason"]


def test_a_missing_route_fails_listing_it(healthy):
    app = healthy()
    with app.app_context():
        assert services.routes(app).status == "ok"
        found = services.routes(app, services.EXPECTED_ENDPOINTS + ("reports.weekly", "health.gone"))
    assert found.status == "fail"
    assert found.reason.startswith("missing reports.weekly, health.gone: ")


def test_a_package_that_differs_from_its_pin_is_a_warning(healthy, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# Runtime\nFlask==0.0.1\nSQLAlchemy[asyncio]==0.0.2\nnot-a-real-package-xyz==1.0\n"
                            f"requests>=2\n\n# Tests\npytest==0.0.3\nnever-installed-tool==9\n")
    with healthy().app_context() as ctx:
        found = host.python(ctx.app, str(requirements))
    assert found.status == "warn"
    assert f"Flask {metadata.version('flask')} (pinned 0.0.1)" in found.reason
    assert "SQLAlchemy " in found.reason and "not-a-real-package-xyz missing (pinned 1.0)" in found.reason
    assert "pytest" not in found.reason and "never-installed-tool" not in found.reason
    assert "pip install -r requirements.txt" in found.reason


def _bare_app(url, **config):
    return create_app({"TESTING": True, "SECRET_KEY": STRONG_KEY, "SQLALCHEMY_DATABASE_URI": url,
                       "OPENAI_API_KEY": [], "GEMINI_API_KEY": list(GEMINI_KEYS), "AICHAT_API_KEYS": [CLIENT_KEY],
                       **config})


@pytest.mark.parametrize("kind", ["no file", "not migrated", "unreachable"])
def test_a_database_problem_fails_and_exits_one(tmp_path, kind):
    if kind == "no file":
        url = f"sqlite:///{tmp_path / 'absent.db'}"
    elif kind == "not migrated":
        (tmp_path / "empty.db").write_bytes(b"")
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = f"postgresql+psycopg://127.0.0.1:{closed_port()}/nowhere?connect_timeout=2"
    app = _bare_app(url)
    result, document, found = verify(app)
    assert result.exit_code == 1 and document["ok"] is False and document["status"] == "fail"
    assert found["database"]["status"] == "fail"
    expected = {"no file": "run `flask db upgrade`", "not migrated": "is at no schema",
                "unreachable": "cannot connect (OperationalError)"}[kind]
    assert expected in found["database"]["reason"]
    for name in ("encryption", "errors", "prices"):
        assert found[name]["status"] == "warn" and found[name]["reason"] == "not checked: the database check failed"
    assert not (tmp_path / "absent.db").exists(), "verify must not create a database file"


def test_migrations_behind_fail_naming_both_revisions(tmp_path):
    from flask_migrate import upgrade

    from tests.test_migrations import HEAD

    app = _bare_app(f"sqlite:///{tmp_path / 'old.db'}")
    with app.app_context():
        upgrade(revision="0003")
    found = verify(app)[2]["database"]
    assert found["status"] == "fail"
    assert f"is at 0003, this version needs {HEAD}: run `flask db upgrade`" in found["reason"]
    with app.app_context():
        upgrade()
    assert verify(app)[2]["database"]["status"] in ("ok", "warn")


def test_a_reachable_redis_storage_is_ok(healthy):
    require_service(reachable(6379), "Redis at 127.0.0.1:6379 is unreachable")
    found = verify(healthy(REDIS_URL="redis://127.0.0.1:6379/0"))[2]["rate_limits"]
    assert found == {**found, "status": "ok", "reason": "redis://127.0.0.1:6379/0 reachable, shared by all workers"}


def test_an_unreachable_redis_storage_fails_without_its_password(healthy):
    port = closed_port()
    result, _, found = verify(healthy(RATELIMIT_STORAGE_URI=f"redis://:hunter2@127.0.0.1:{port}/0"))
    # The sign-in limit's own storage is checked too (the limits engine counts in memory here).
    assert result.exit_code == 1
    assert found["rate_limits"]["status"] == "fail"
    assert found["rate_limits"]["reason"].startswith(f"redis://:***@127.0.0.1:{port}/0 unreachable (ConnectionError)")
    assert "hunter2" not in result.output


def test_frontends_are_optional_and_only_warn(healthy, live_server):
    from flask import Flask

    site = Flask("site")
    site.add_url_rule("/", "index", lambda: "<h1>shop</h1>")
    broken = Flask("broken")
    broken.add_url_rule("/", "index", lambda: ("down", 502))
    good, bad, gone = live_server(site), live_server(broken), f"http://127.0.0.1:{closed_port()}"
    assert verify(healthy())[2]["frontends"]["reason"] == "none configured (no enabled site lists an origin)"
    found = verify(healthy(AICHAT_ALLOWED_ORIGINS=[good]))[2]["frontends"]
    assert found["status"] == "ok" and found["reason"].startswith(f"{good} 200 in ")
    result, _, found = verify(healthy(AICHAT_ALLOWED_ORIGINS=[good, bad, gone]))
    assert result.exit_code == 0
    assert found["frontends"]["status"] == "warn"
    assert f"{bad} answered HTTP 502" in found["frontends"]["reason"]
    assert f"{gone} unreachable (connection failed)" in found["frontends"]["reason"]
    # A site made with `flask sites` is checked like the local site's origins.
    app = healthy()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["sites", "create", "shop.example", "--origin", bad]).exit_code == 0
    runtime_of(app).tenancy.poll()
    found = verify(app)[2]["frontends"]
    assert found["status"] == "warn" and f"{bad} answered HTTP 502" in found["reason"]
    assert "--remove-origin" in found["reason"]


def test_a_check_that_breaks_or_hangs_is_a_failure_not_a_traceback(healthy, monkeypatch):
    release = threading.Event()

    def broken(app):
        raise RuntimeError("boom")

    def hangs(app):
        release.wait(30)

    monkeypatch.setattr(checks, "CHECKS", [checks.instance, broken, hangs, checks.process])
    try:
        result, document, found = verify(healthy(), "--timeout", "0.5")
    finally:
        release.set()
    assert result.exit_code == 1
    assert [c["name"] for c in document["checks"]] == ["instance", "broken", "hangs", "process"]
    assert found["broken"]["status"] == "fail"
    assert found["broken"]["reason"] == "the check itself failed: RuntimeError: boom"
    assert found["hangs"]["status"] == "fail" and found["hangs"]["reason"].startswith("did not finish within 0.5 s")
    assert found["process"]["status"] == "ok"
