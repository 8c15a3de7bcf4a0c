"""What browsers meet: the origin allowlist, the per-IP rate limit (CORS itself: test_cors.py)."""
from tests.api.openapi_check import assert_matches_openapi
from tests.shared_redis import REDIS_URL, redis_prefix  # noqa: F401 - a fixture

URL = "/api/v1/ai-proxy/chat"
BODY = {"messages": [{"role": "user", "content": "hi"}], "suggestions": False}


def test_allowed_origin_gets_cors_headers_and_its_site_recorded(make_app):
    app = make_app(AICHAT_ALLOWED_ORIGINS=["https://shop.example.com"])
    resp = app.test_client().post(URL, json=BODY, headers={"Origin": "https://shop.example.com"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"]
    from tests.conftest import usage_rows
    assert usage_rows(app)[-1]["site_domain"] == "shop.example.com"


def test_empty_allowlist_means_same_origin_only(make_app):
    client = make_app().test_client()
    assert client.post(URL, json=BODY, headers={"Origin": "http://localhost"}).status_code == 200
    resp = client.post(URL, json=BODY, headers={"Origin": "https://elsewhere.example"})
    assert resp.status_code == 403
    malformed = client.post(URL, json=BODY, headers={"Origin": "http://[localhost"})
    assert malformed.status_code == 403 and malformed.json["error"]["code"] == "origin_not_allowed"
    assert client.post(URL, json=BODY).status_code == 200, "no Origin: not a cross-site browser call"


def test_rate_limit_is_per_ip_with_retry_after(make_app):
    app = make_app(AICHAT_RATE_LIMIT="3/minute")
    client = app.test_client()
    for _ in range(3):
        assert client.post(URL, json=BODY).status_code == 200
    resp = client.post(URL, json=BODY)
    assert resp.status_code == 429
    assert resp.json["error"]["code"] == "rate_limited"
    assert resp.json["error"]["limit"]["owner"] == "gateway" and resp.json["error"]["limit"]["limit"] == 3
    assert int(resp.headers["Retry-After"]) > 0
    assert_matches_openapi(client, resp, "post")
    other = client.post(URL, json=BODY, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200, "another address has its own budget"


def test_rate_limit_is_shared_by_both_chat_endpoints(make_app):
    from tests.conftest import CLIENT_KEY
    app = make_app(AICHAT_RATE_LIMIT="2/minute")
    client = app.test_client()
    assert client.post(URL, json=BODY).status_code == 200
    assert client.post("/v1/chat/completions", json=BODY,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"}).status_code == 200
    assert client.post(URL, json=BODY).status_code == 429


def test_health_is_not_rate_limited(make_app):
    client = make_app(AICHAT_RATE_LIMIT="1/minute").test_client()
    assert all(client.get("/health").status_code == 200 for _ in range(5))


def test_rate_limit_is_shared_between_processes_through_redis(make_app, redis_prefix):
    """With REDIS_URL, several gunicorn workers (here: two apps) count against one budget."""
    settings = dict(AICHAT_RATE_LIMIT="3/minute", RATELIMIT_STORAGE_URI="", REDIS_URL=REDIS_URL,
                    AICHAT_REDIS_PREFIX=redis_prefix)
    first, second = make_app(**settings), make_app(**settings)
    assert first.test_client().post(URL, json=BODY).status_code == 200
    assert second.test_client().post(URL, json=BODY).status_code == 200
    assert first.test_client().post(URL, json=BODY).status_code == 200
    resp = second.test_client().post(URL, json=BODY)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
