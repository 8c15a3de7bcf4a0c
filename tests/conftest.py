"""Fixtures: database → app → client, fake upstreams, a live server for real HTTP clients.

The database is SQLite by default; with DATABASE_URL pointing at PostgreSQL the whole suite
runs there instead, in a schema of its own that is dropped afterwards.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from werkzeug.serving import make_server

from aichat import create_app
from aichat.config import _database_url
from aichat.extensions import db
from tests.fakes import FakeGemini, FakeOpenAI, free_port
from aichat.runtime import runtime_of

OPENAI_KEYS = ["sk-test-openai-key-one-0001", "sk-test-openai-key-two-0002"]
GEMINI_KEYS = ["AIzaTestGeminiKeyOne000001", "AIzaTestGeminiKeyTwo000002"]
CLIENT_KEY = "aichat-client-key-0001"
ALL_SECRETS = OPENAI_KEYS + GEMINI_KEYS + [CLIENT_KEY]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def reachable(port: int) -> bool:
    """Does something accept connections on this loopback port (PostgreSQL, Redis)?"""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def require_service(reachable: bool, reason: str) -> None:
    """Skip with a clear reason where a local service is missing; under CI that is a failure."""
    if reachable:
        return
    if _in_ci():
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure, whoever skipped: nothing a CI run needs may be missing."""
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which runs everything: {reason}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A migrated database for the whole run: a SQLite file, or a fresh PostgreSQL schema."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        base = _database_url(url)
        schema = f"aichat_test_{uuid.uuid4().hex[:10]}"
        engine = create_engine(base)
        try:
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except Exception as exc:  # noqa: BLE001
            require_service(False, f"PostgreSQL at {base.split('@')[-1]} is unreachable: {type(exc).__name__}")
        sep = "&" if "?" in base else "?"
        scoped = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
        _migrate(scoped)
        yield scoped
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    else:
        scoped = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "aichat.db")
        _migrate(scoped)
        yield scoped


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(_base_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _base_config(url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "OPENAI_API_KEY": [],
        "GEMINI_API_KEY": [],
        "AICHAT_API_KEYS": [CLIENT_KEY],
        "AICHAT_RATE_LIMIT": "10000/second",
        "RATELIMIT_STORAGE_URI": "memory://",
        "AICHAT_USAGE_FLUSH_INTERVAL": 0.02,
        "AICHAT_CONNECT_TIMEOUT": 1.0,
        "AICHAT_FIRST_TOKEN_TIMEOUT": 2.0,
        "AICHAT_TOTAL_TIMEOUT": 10.0,
        # Each app its own spool (created only if it spools), so no app replays another test's rows.
        "AICHAT_USAGE_SPOOL_DIR": os.path.join(tempfile.gettempdir(), f"aichat-test-spool-{uuid.uuid4().hex}"),
    }


# Emptied after every test; model_price keeps the prices the migrations seed, config_version its row.
_PER_TEST_TABLES = ("chat_message", "conversation", "ai_usage_log", "ai_usage_stats", "ai_usage_dirty_day",
                    "ai_usage_rollup_state", "ai_usage_spool_applied", "admin_api_token", "admin_user", "upstream_key",
                    "upstream", "model_alias", "client_key", "audit_event")
# The local site the migration makes stays, as it was made; every other site goes.
_RESET_LOCAL_SITE = ("DELETE FROM site WHERE domain <> 'localhost'",
                     "UPDATE site SET name = 'Local site', origins = '[]', enabled = true, allow_anonymous = true, "
                     "preset = '{}', limits = '{}', ip_allow = '[]', ip_deny = '[]', merge_anonymous = true, "
                     "on_disconnect = 'stop', retention_days = 90, identity_secret = NULL, identity_secret_previous = NULL, "
                     "identity_secret_previous_until = NULL WHERE domain = 'localhost'")


@pytest.fixture
def make_app(database_url):
    """Build an app with config overrides; its usage rows are flushed and cleared afterwards."""
    apps = []

    def build(**overrides):
        app = create_app({**_base_config(database_url), **overrides})
        apps.append(app)
        return app

    yield build
    # Every writer stops (and flushes) first, so the check sees each app's last rows, served by
    # the test client, a live server or a gunicorn reading the same database.
    for app in apps:
        runtime_of(app).turns.close()
        runtime_of(app).recorder.close()
    billed_twice = []
    for app in apps:
        with app.app_context():
            billed_twice += attempts_billed_twice()
            for table in _PER_TEST_TABLES:
                db.session.execute(text(f"DELETE FROM {table}"))
            for statement in _RESET_LOCAL_SITE:
                db.session.execute(text(statement))
            db.session.commit()
            db.engine.dispose()
    if billed_twice:
        pytest.fail(f"attempts billed more than once, (request id, attempt, rows): {billed_twice[:10]}")


def attempts_billed_twice() -> list[tuple]:
    """(request id, attempt, rows) for every attempt with more than one usage row; in an app context."""
    from aichat.models import AIUsageLog

    rows = func.count(AIUsageLog.id)
    query = (select(AIUsageLog.request_id, AIUsageLog.attempt, rows)
             .group_by(AIUsageLog.request_id, AIUsageLog.attempt).having(rows > 1))
    return [tuple(row) for row in db.session.execute(query)]


@pytest.fixture
def app_from_environment(monkeypatch, tmp_path):
    """`create_app()` as gunicorn and `flask` call it, reading the environment (set it with monkeypatch),
    in tmp_path and on a SQLite file there. SECRET_KEY is set, so no key is generated in the checkout's
    instance folder; the apps' usage writers are stopped afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/environment.db")
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-from-the-environment-0001")
    monkeypatch.setenv("AICHAT_USAGE_SPOOL_DIR", str(tmp_path / "usage-spool"))
    apps = []

    def build():
        app = create_app()
        apps.append(app)
        return app

    yield build
    for app in apps:
        runtime_of(app).recorder.close()


@pytest.fixture
def app(make_app):
    """A keyless install: the demo responder answers."""
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def flask(app):
    """Run `flask ARGS…` on `app` with optional stdin; returns click's Result (stdout and stderr apart)."""
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return run


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def _browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser), one for the whole run: the console's
    and the widget's browser tests share it (Playwright's sync API runs one instance per thread)."""
    require_service(os.access(CHROMIUM, os.X_OK),
                    f"{CHROMIUM} is missing: install Debian's chromium package (scripts/browser.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def _openai_server():
    server = FakeOpenAI(valid_keys=set(OPENAI_KEYS)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _gemini_server():
    server = FakeGemini(valid_keys=set(GEMINI_KEYS)).start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(_openai_server):
    _openai_server.reset()
    return _openai_server


@pytest.fixture
def fake_gemini(_gemini_server):
    _gemini_server.reset()
    return _gemini_server


@pytest.fixture
def gateway_app(make_app, fake_openai, fake_gemini):
    """An app wired to both fake upstreams, two keys each; overrides change any setting."""

    def build(**overrides):
        settings = {
            "OPENAI_API_KEY": list(OPENAI_KEYS),
            "OPENAI_BASE_URL": fake_openai.base_url,
            "OPENAI_MODEL": "gpt-4o-mini",
            "GEMINI_API_KEY": list(GEMINI_KEYS),
            "GEMINI_BASE_URL": fake_gemini.base_url,
            "GEMINI_MODEL": "gemini-2.5-flash",
        }
        settings.update(overrides)
        return make_app(**settings)

    return build


@pytest.fixture
def live_server():
    """Serve an app over real HTTP on loopback (threaded, like a worker that holds many streams)."""
    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def usage_rows(app, at_least: int = 0, timeout: float = 5.0) -> list[dict]:
    """Every usage row written so far, oldest first; waits for `at_least` rows (a live server
    may still be finishing a stream when the client has its last byte)."""
    from aichat.models import AIUsageLog

    deadline = time.monotonic() + timeout
    while True:
        assert runtime_of(app).recorder.flush(10), "usage rows were not written in time"
        with app.app_context():
            rows = db.session.execute(db.select(AIUsageLog).order_by(AIUsageLog.id)).scalars().all()
            found = [{c.name: getattr(row, c.name) for c in AIUsageLog.__table__.columns} for row in rows]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


@pytest.fixture
def make_admin():
    """Create an admin (and optionally an API token) in `app`'s database: returns (admin id, clear token)."""
    from aichat.models import AdminUser, ApiToken

    def create(app, username: str = "admin", password: str = "correct horse battery", token: bool = True,
               role: str = "owner"):
        with app.app_context():
            admin = AdminUser(username=username, role=role)
            admin.set_password(password)
            db.session.add(admin)
            clear = None
            if token:
                row, clear = ApiToken.issue(admin, "test")
                db.session.add(row)
            db.session.commit()
            return admin.id, clear

    return create


ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GunicornServer:
    base: str  # http://127.0.0.1:port
    proc: subprocess.Popen
    reader: object  # an app on the same database, to read what the server wrote
    env: dict
    log_path: Path  # what the server printed, stdout and stderr (a file: a pipe nobody reads would fill)

    def output(self) -> str:
        """Everything the server has printed so far."""
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        """The pids of gunicorn's workers: the master's children."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return {int(pid) for pid in children}


@pytest.fixture
def serve_gunicorn(database_url, fake_openai, make_app, tmp_path):
    """Start `gunicorn -c gunicorn.conf.py wsgi:app` on a free port against the fake OpenAI.

    `serve_gunicorn(workers=2, SETTING="value", …)`: keyword settings go into the server's
    environment. Servers still running at the end get SIGTERM."""
    servers = []

    def start(workers: int = 1, wait_ready: bool = True, **settings) -> GunicornServer:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "OPENAI_API_KEY": ",".join(OPENAI_KEYS),
               "OPENAI_BASE_URL": fake_openai.base_url, "GEMINI_API_KEY": "", "AICHAT_PROVIDER_ORDER": "openai",
               "AICHAT_API_KEYS": CLIENT_KEY, "AICHAT_RATE_LIMIT": "10000/second",
               "AICHAT_BIND": f"127.0.0.1:{port}", "AICHAT_WORKERS": str(workers),
               "AICHAT_GRACEFUL_TIMEOUT": "20", "SECRET_KEY": "test-secret-key-for-gunicorn-servers-0001",
               "AICHAT_ENV": "development", "AICHAT_USAGE_SPOOL_DIR": str(tmp_path / f"usage-spool-{port}")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update({name: str(value) for name, value in settings.items()})
        log_path = tmp_path / f"gunicorn-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while wait_ready and time.monotonic() < deadline:
            try:
                # A long timeout: an answer the client gave up on would still be counted by the metrics tests.
                if requests.get(base + "/health", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            if wait_ready:
                proc.kill()
                pytest.fail("gunicorn did not start: " + log_path.read_text(errors="replace")[-2000:])
        server = GunicornServer(base, proc, make_app(), env, log_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(20)
            except subprocess.TimeoutExpired:
                server.proc.kill()
