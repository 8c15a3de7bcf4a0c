"""`GET /health/ready`: each check's ok and fail paths, the cache, the timeout, and `/health` beside it."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import create_engine, text

from aichat import create_app
from aichat.config import _database_url
from aichat.extensions import db
from tests.conftest import _base_config, reachable, require_service
from tests.fakes import closed_port
from tests.tcpproxy import BLACKHOLE, REFUSE, TcpProxy
from aichat.runtime import runtime_of

CHECKS = ["database", "rate_limit_storage", "providers", "lifecycle"]


def migrate_to(url: str, revision: str) -> None:
    from flask_migrate import upgrade

    app = create_app({**_base_config(url), "AICHAT_ROLLUP_INTERVAL": 0})
    with app.app_context():
        upgrade(revision=revision)
        db.engine.dispose()
    runtime_of(app).recorder.close()


@pytest.fixture
def own_database(tmp_path):
    """A database of this test's own at a given revision: a SQLite file, or a PostgreSQL schema
    when DATABASE_URL points there (dropped afterwards)."""
    made = []
    base = os.environ.get("DATABASE_URL", "")

    def create(revision: str = "head") -> str:
        if base.startswith(("postgres://", "postgresql")):
            schema = f"aichat_ready_{uuid.uuid4().hex[:10]}"
            engine = create_engine(_database_url(base))
            with engine.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            made.append((engine, schema))
            sep = "&" if "?" in base else "?"
            url = f"{_database_url(base)}{sep}options={quote(f'-csearch_path={schema}')}"
        else:
            url = "sqlite:///" + str(tmp_path / f"own-{uuid.uuid4().hex[:6]}.db")
        migrate_to(url, revision)
        return url

    yield create
    for engine, schema in made:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def build_app(database_url):
    """An app on any database URL, even one that cannot be reached (no cleanup touches it)."""
    apps = []

    def build(url: str | None = None, **overrides):
        app = create_app({**_base_config(url or database_url), "AICHAT_ROLLUP_INTERVAL": 0, **overrides})
        apps.append(app)
        return app

    yield build
    for app in apps:
        runtime_of(app).recorder.close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def blackhole():
    """A port that accepts connections and never answers, counting them."""
    proxy = TcpProxy(closed_port()).start(BLACKHOLE)
    yield proxy
    proxy.stop()


def ready(app):
    response = app.test_client().get("/health/ready")
    return response.status_code, response.get_json()


def open_every_circuit(app) -> None:
    for upstream in runtime_of(app).gateway.upstreams.values():
        for _ in range(upstream.breaker.threshold):
            upstream.breaker.record_failure()


def test_ready_lists_every_check_ok_and_is_never_cached_by_clients(make_app):
    """Is a healthy keyless install ready, with one ok entry per check?"""
    response = make_app().test_client().get("/health/ready")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "ready"
    assert list(body["checks"]) == CHECKS
    assert all(set(entry) == {"status", "reason"} and entry["status"] == "ok" for entry in body["checks"].values())
    assert body["checks"]["database"]["reason"] == "reachable, migrations at head"
    assert body["checks"]["rate_limit_storage"]["reason"] == "in memory (per process)"
    assert "demo responder" in body["checks"]["providers"]["reason"]


def test_an_unreachable_database_fails_without_naming_where_it_is(build_app):
    """A closed port: 503 with the error's class only, while /health still answers."""
    port = closed_port()
    app = build_app(f"postgresql://aichat:hunter2-secret@127.0.0.1:{port}/test")
    status, body = ready(app)
    assert status == 503 and body["status"] == "not_ready"
    assert body["checks"]["database"] == {"status": "fail", "reason": "unreachable (OperationalError)"}
    assert body["checks"]["providers"]["status"] == "ok"
    text_ = json.dumps(body)
    for secret in ("127.0.0.1", str(port), "hunter2", "aichat:", "postgres"):
        assert secret not in text_
    assert app.test_client().get("/health").status_code == 200


def test_migrations_behind_fail_until_the_database_is_upgraded(own_database, build_app):
    """A database at an earlier revision is not ready; after `db upgrade` it is, without a restart."""
    url = own_database("0003")
    app = build_app(url, AICHAT_READY_CACHE_SECONDS=0)
    status, body = ready(app)
    assert status == 503
    assert body["checks"]["database"] == {"status": "fail", "reason": "reachable, but migrations are not at head"}
    migrate_to(url, "head")
    status, body = ready(app)
    assert status == 200, body
    assert body["checks"]["database"]["status"] == "ok"


def test_a_reachable_redis_storage_is_ok(build_app):
    require_service(reachable(6379), "Redis at 127.0.0.1:6379 is unreachable")
    app = build_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")
    status, body = ready(app)
    assert status == 200, body
    assert body["checks"]["rate_limit_storage"] == {"status": "ok", "reason": "reachable (redis)"}


def test_an_unreachable_redis_storage_is_degraded_but_ready(build_app):
    """Limits count per process meanwhile, so the instance still serves: ready, with the check degraded."""
    port = closed_port()
    app = build_app(RATELIMIT_STORAGE_URI=f"redis://:pw-secret@127.0.0.1:{port}/0")
    status, body = ready(app)
    assert status == 200 and body["status"] == "ready"
    assert body["checks"]["rate_limit_storage"] == {
        "status": "degraded", "reason": "unreachable (redis): limits count per process until it returns"}
    assert str(port) not in json.dumps(body) and "pw-secret" not in json.dumps(body)
    assert app.test_client().get("/health").status_code == 200


def test_an_unreachable_redis_storage_without_the_fallback_fails(build_app):
    port = closed_port()
    app = build_app(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0", RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=False)
    status, body = ready(app)
    assert status == 503
    assert body["checks"]["rate_limit_storage"] == {"status": "fail", "reason": "unreachable (redis)"}


def test_every_provider_circuit_open_is_not_ready(gateway_app):
    app = gateway_app(AICHAT_READY_CACHE_SECONDS=0)
    body = ready(app)[1]
    assert body["checks"]["providers"] == {"status": "ok", "reason": "2 of 2 usable"}
    assert "openai" not in json.dumps(body) and "gemini" not in json.dumps(body), "vendors are not public"
    open_every_circuit(app)
    status, body = ready(app)
    assert status == 503
    assert body["checks"]["providers"]["status"] == "fail"
    assert "none of 2 usable" in body["checks"]["providers"]["reason"]


def test_one_usable_key_behind_a_closed_circuit_is_enough(gateway_app):
    """OpenAI's circuit open, Gemini's first key benched and second key's circuit open... but not all."""
    app = gateway_app(AICHAT_READY_CACHE_SECONDS=0)
    upstreams = runtime_of(app).gateway.upstreams
    for _ in range(upstreams["openai"].breaker.threshold):
        upstreams["openai"].breaker.record_failure()
    first, second = upstreams["gemini"].keys
    first.bench("invalid key")
    status, body = ready(app)
    assert status == 200 and body["checks"]["providers"]["reason"] == "1 of 2 usable"
    for _ in range(second.breaker.threshold):
        second.breaker.record_failure()
    status, body = ready(app)
    assert status == 503 and body["checks"]["providers"]["status"] == "fail"


def test_a_draining_process_is_not_ready_at_once(make_app):
    """After SIGTERM the balancer must see 503 immediately, not after the cache expires."""
    app = make_app(AICHAT_READY_CACHE_SECONDS=600)
    assert ready(app)[0] == 200
    runtime_of(app).lifecycle.begin_drain()
    status, body = ready(app)
    assert status == 503
    assert body["checks"]["lifecycle"] == {"status": "fail", "reason": "stopping"}
    assert body["checks"]["database"]["status"] == "ok"  # the last I/O results are still shown


def test_a_change_is_seen_only_once_the_cache_expires(gateway_app):
    app = gateway_app(AICHAT_READY_CACHE_SECONDS=2.0)
    assert ready(app)[0] == 200
    open_every_circuit(app)
    assert ready(app)[0] == 200  # answered from the cached result
    deadline = time.monotonic() + 10
    while ready(app)[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, body = ready(app)
    assert status == 503 and body["checks"]["providers"]["status"] == "fail"


def test_a_hanging_database_times_out_and_is_not_connected_to_again(build_app, blackhole):
    """A blackholed database: 503 within the timeout, and the next poll reuses the hung check."""
    app = build_app(f"postgresql://127.0.0.1:{blackhole.port}/test", AICHAT_READY_TIMEOUT=0.5,
                    AICHAT_READY_CACHE_SECONDS=0, AICHAT_DB_CONNECT_TIMEOUT=2, AICHAT_CONFIG_POLL_INTERVAL=0)
    at_start = blackhole.connections  # the app's own read of the upstream configuration
    for _ in range(3):
        started = time.monotonic()
        status, body = ready(app)
        assert time.monotonic() - started < 0.5 + 2.0
        assert status == 503
        assert body["checks"]["database"] == {"status": "fail", "reason": "timed out after 0.5s"}
        assert body["checks"]["rate_limit_storage"]["status"] == "ok"
    assert blackhole.connections == at_start + 1
    # The server goes away: the hung check ends, and the next poll runs it again.
    blackhole.set_mode(REFUSE)
    deadline = time.monotonic() + 5
    while ready(app)[1]["checks"]["database"]["reason"].startswith("timed out") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready(app)[1]["checks"]["database"] == {"status": "fail", "reason": "unreachable (OperationalError)"}


def test_concurrent_polls_share_one_evaluation(build_app, blackhole, live_server):
    """Several balancers at once, before any result exists: one check runs, the others wait for it."""
    app = build_app(f"postgresql://127.0.0.1:{blackhole.port}/test", AICHAT_READY_TIMEOUT=0.5,
                    AICHAT_READY_CACHE_SECONDS=0, AICHAT_DB_CONNECT_TIMEOUT=2, AICHAT_CONFIG_POLL_INTERVAL=0)
    at_start = blackhole.connections  # the app's own read of the upstream configuration
    base = live_server(app)
    statuses: list[int] = []

    def poll() -> None:
        statuses.append(requests.get(base + "/health/ready", timeout=5).status_code)

    pollers = [threading.Thread(target=poll) for _ in range(8)]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join(10)
    assert statuses == [503] * 8
    assert blackhole.connections == at_start + 1


def test_health_is_exempt_from_a_default_rate_limit(make_app):
    """With a default limit of 2/minute, other routes get 429 while /health and /health/ready never do."""
    client = make_app(RATELIMIT_DEFAULT="2/minute").test_client()
    assert [client.get("/health").status_code for _ in range(20)] == [200] * 20
    assert [client.get("/health/ready").status_code for _ in range(20)] == [200] * 20
    assert [client.get("/api/v1/openapi.json").status_code for _ in range(3)] == [200, 200, 429]


def test_health_answers_while_the_database_is_down(build_app):
    client = build_app(f"postgresql://127.0.0.1:{closed_port()}/test").test_client()
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
