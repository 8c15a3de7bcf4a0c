"""CORS per site, live: preflight and actual requests from allowed, unknown and disabled origins."""
from __future__ import annotations

import time

import pytest
import requests

from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import sites

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}
SHOP, BLOG, EVIL = "https://shop.example.com", "https://blog.example.com", "https://evil.example.net"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


@pytest.fixture
def app(make_app):
    """shop.example.com enabled, blog.example.com disabled, in force."""
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)
    with app.app_context():
        sites.create_site(db.session, "shop.example.com", [SHOP])
        sites.create_site(db.session, "blog.example.com", [BLOG])
        sites.set_enabled(db.session, "blog.example.com", False)
    runtime_of(app).tenancy.poll()
    return app


def cors_headers(resp) -> dict:
    return {name: value for name, value in resp.headers.items() if name.lower().startswith("access-control-")}


def test_preflight_from_a_site_origin_is_answered_and_cached(app):
    resp = app.test_client().options(URL, headers={"Origin": SHOP, **PREFLIGHT})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    allowed = resp.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "x-aichat-site" in allowed
    assert "x-aichat-session" in allowed and "x-aichat-user" in allowed, "the widget names its visitor"
    assert int(resp.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in resp.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in resp.headers, "no cookies go cross-site"


def test_an_actual_request_from_a_site_origin_echoes_it_and_exposes_the_headers_pages_read(app):
    resp = app.test_client().post(URL, json=BODY, headers={"Origin": SHOP})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP and "Origin" in resp.headers["Vary"]
    exposed = {h.strip().lower() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"x-request-id", "retry-after", "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"} <= exposed


@pytest.mark.parametrize("origin, code", [(EVIL, "origin_not_allowed"), (BLOG, "site_disabled"),
                                          ("null", "origin_not_allowed"), ("http://[localhost", "origin_not_allowed")],
                         ids=["unknown", "disabled", "null", "malformed"])
def test_an_origin_no_enabled_site_lists_gets_403_json_without_cors(app, origin, code):
    client = app.test_client()
    preflight = client.options(URL, headers={"Origin": origin, **PREFLIGHT})
    assert preflight.status_code == 403 and preflight.json["error"]["code"] == code
    assert preflight.json["error"]["request_id"] == preflight.headers["X-Request-ID"]
    assert cors_headers(preflight) == {} and "Origin" in preflight.headers["Vary"]
    actual = client.post(URL, json=BODY, headers={"Origin": origin})
    assert actual.status_code == 403 and actual.json["error"]["code"] == code
    assert cors_headers(actual) == {}


def test_our_own_origin_and_callers_without_origin(app):
    client = app.test_client()
    own = client.options(URL, headers={"Origin": "http://localhost", **PREFLIGHT})
    assert own.status_code == 204 and own.headers["Access-Control-Allow-Origin"] == "http://localhost"
    plain = client.post(URL, json=BODY)
    assert cors_headers(plain) == {} and "Origin" in plain.headers["Vary"], "a cache must not reuse it for a page"
    with app.app_context():
        sites.set_enabled(db.session, "localhost", False)
    runtime_of(app).tenancy.poll()
    assert client.options(URL, headers={"Origin": "http://localhost", **PREFLIGHT}).status_code == 403, \
        "our own pages belong to the local site"


def test_other_surfaces_get_no_cors(app):
    resp = app.test_client().options("/v1/chat/completions", headers={"Origin": SHOP, **PREFLIGHT})
    assert cors_headers(resp) == {}


def test_the_allowed_origins_of_allowed_origins_setting_are_the_local_site(make_app):
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0, AICHAT_ALLOWED_ORIGINS=["https://legacy.example"])
    resp = app.test_client().options(URL, headers={"Origin": "https://legacy.example", **PREFLIGHT})
    assert resp.status_code == 204 and resp.headers["Access-Control-Allow-Origin"] == "https://legacy.example"
    with app.app_context():
        sites.set_enabled(db.session, "localhost", False)
    runtime_of(app).tenancy.poll()
    assert app.test_client().options(URL, headers={"Origin": "https://legacy.example", **PREFLIGHT}).status_code == 403


def test_a_site_added_then_disabled_while_the_server_runs(make_app, live_server):
    """The server's own poller picks each change up: no restart, no poll by hand."""
    app = make_app(AICHAT_CONFIG_POLL_INTERVAL=0.1)
    base = live_server(app)
    preflight = {"Origin": "https://new.example", **PREFLIGHT}
    assert requests.options(base + URL, headers=preflight, timeout=5).status_code == 403
    writer = make_app(AICHAT_CONFIG_POLL_INTERVAL=0)  # another process's `flask sites create`
    with writer.app_context():
        sites.create_site(db.session, "new.example", ["https://new.example"])
    assert _eventually(lambda: requests.options(base + URL, headers=preflight, timeout=5).status_code == 204)
    resp = requests.post(base + URL, json=BODY, headers={"Origin": "https://new.example"}, timeout=5)
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://new.example"
    with writer.app_context():
        sites.set_enabled(db.session, "new.example", False)
    assert _eventually(lambda: requests.options(base + URL, headers=preflight, timeout=5).status_code == 403)
    resp = requests.post(base + URL, json=BODY, headers={"Origin": "https://new.example"}, timeout=5)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "site_disabled" and cors_headers(resp) == {}


def _eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
