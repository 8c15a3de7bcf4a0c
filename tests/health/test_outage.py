"""A PostgreSQL outage under a real gunicorn+gevent server: liveness holds, readiness fails fast,
and both recover without a restart. Always on PostgreSQL, reached through a loopback proxy."""
from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import reachable, require_service
from tests.health.test_ready import migrate_to
from tests.tcpproxy import BLACKHOLE, FORWARD, REFUSE, TcpProxy

POSTGRES = "postgresql+psycopg://127.0.0.1:5432/test"
READY_TIMEOUT = 1.0
CACHE_SECONDS = 0.5
MARGIN = 2.0  # for the HTTP round trip on a busy machine


@pytest.fixture
def proxied_postgres():
    """A migrated schema of its own on PostgreSQL, and a proxy in front of the server: (proxy, url)."""
    require_service(reachable(5432), "PostgreSQL at 127.0.0.1:5432 is unreachable")
    schema = f"aichat_outage_{uuid.uuid4().hex[:10]}"
    engine = create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    search_path = f"options={quote(f'-csearch_path={schema}')}"
    migrate_to(f"{POSTGRES}?{search_path}", "head")
    proxy = TcpProxy(5432).start(FORWARD)
    yield proxy, f"postgresql://127.0.0.1:{proxy.port}/test?{search_path}"
    proxy.stop()
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def live_status(base: str) -> int:
    return requests.get(base + "/health", timeout=MARGIN).status_code


def ready_status(base: str) -> tuple[int, dict]:
    """Readiness must answer within its own timeout (plus the round trip), whatever the database does."""
    response = requests.get(base + "/health/ready", timeout=READY_TIMEOUT + MARGIN)
    return response.status_code, response.json()


def wait_for_ready(base: str, want: int, within: float) -> dict:
    deadline = time.monotonic() + within
    status, body = ready_status(base)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.1)
        status, body = ready_status(base)
    assert status == want, body
    return body


def test_an_outage_fails_readiness_fast_while_liveness_holds_and_both_recover(proxied_postgres, serve_gunicorn):
    proxy, url = proxied_postgres
    server = serve_gunicorn(DATABASE_URL=url, AICHAT_READY_TIMEOUT=READY_TIMEOUT,
                            AICHAT_READY_CACHE_SECONDS=CACHE_SECONDS, AICHAT_DB_CONNECT_TIMEOUT=5,
                            AICHAT_ROLLUP_INTERVAL=0)
    wait_for_ready(server.base, 200, within=10)
    pids = server.workers()
    assert len(pids) == 1

    for mode in (REFUSE, BLACKHOLE):
        proxy.set_mode(mode)
        body = wait_for_ready(server.base, 503, within=CACHE_SECONDS + READY_TIMEOUT + MARGIN)
        assert body["checks"]["database"]["status"] == "fail"
        # Keep polling through the outage: every answer comes within the timeout, /health stays 200.
        for _ in range(6):
            assert live_status(server.base) == 200
            status, body = ready_status(server.base)
            assert status == 503 and body["checks"]["database"]["status"] == "fail"
            time.sleep(CACHE_SECONDS / 2)
        if mode == BLACKHOLE:
            assert body["checks"]["database"]["reason"] == f"timed out after {READY_TIMEOUT}s"

    proxy.set_mode(FORWARD)
    body = wait_for_ready(server.base, 200, within=CACHE_SECONDS + READY_TIMEOUT + MARGIN)
    assert body["checks"]["database"] == {"status": "ok", "reason": "reachable, migrations at head"}
    assert live_status(server.base) == 200
    assert server.proc.poll() is None and server.workers() == pids  # no restart
    assert "WORKER TIMEOUT" not in server.output()
