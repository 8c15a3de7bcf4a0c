"""Security headers on every response: pages, JSON, static files, errors; HSTS only over HTTPS."""
import pytest

from aichat.headers import CSP
from tests.admin.conftest import login
from tests.conftest import CLIENT_KEY

EXPECTED = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin"}


def _every_get(app) -> list[str]:
    """Every GET route of the app, variables filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            numeric = {name for name in rule.arguments
                       if type(rule._converters.get(name)).__name__ == "IntegerConverter"}
            urls.append(rule.build({name: 1 if name in numeric else "css/admin.css" for name in rule.arguments})[1])
    return urls


def _assert_headers(resp, url):
    for name, value in EXPECTED.items():
        assert resp.headers.get(name) == value, f"{url} ({resp.status_code}): {name} is {resp.headers.get(name)!r}"


def test_the_policy_forbids_inline_code_and_framing():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_get_route_carries_the_headers(app, make_admin, signed_in):
    make_admin(app, token=False)
    client = app.test_client()
    if signed_in:
        assert login(client).status_code == 302
    urls = _every_get(app) + ["/admin/no-such-page", "/api/v1/no-such-endpoint", "/no-such-page"]
    assert len(urls) > 15
    for url in urls:
        resp = client.get(url, headers={"Authorization": f"Bearer {CLIENT_KEY}"} if url.startswith("/v1/") else {})
        _assert_headers(resp, url)
        assert "Strict-Transport-Security" not in resp.headers, f"{url}: HSTS over plain HTTP"


def test_posts_refusals_and_redirects_carry_them_too(app):
    client = app.test_client()
    answers = {"refused form": client.post("/admin/login", data={}),
               "redirect": client.get("/admin/"),
               "chat": client.post("/api/v1/ai-proxy/chat", json={"messages": [{"role": "user", "content": "hi"}]}),
               "405": client.put("/health")}
    assert [r.status_code for r in answers.values()] == [400, 302, 200, 405]
    for name, resp in answers.items():
        _assert_headers(resp, name)


def test_hsts_only_over_https(make_app):
    app = make_app()
    secure = app.test_client().get("/admin/login", base_url="https://console.example.com")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in app.test_client().get("/admin/login").headers
    off = make_app(AICHAT_HSTS_SECONDS=0).test_client().get("/admin/login", base_url="https://console.example.com")
    assert "Strict-Transport-Security" not in off.headers


def test_behind_a_trusted_proxy_https_is_seen_and_a_direct_client_cannot_claim_it(make_app):
    app = make_app(AICHAT_TRUSTED_PROXIES=1)
    proxied = app.test_client().get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in proxied.headers
    direct = make_app().test_client().get("/admin/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in direct.headers
