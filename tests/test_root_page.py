"""`/`: a small page, not a 404 nor a redirect to a sign-in: the gateway's name, its status and links, in both
languages, and nothing /health does not show."""
from __future__ import annotations

from aichat import __version__
from tests.conftest import ALL_SECRETS


def test_the_root_page_names_the_gateway_its_status_and_links(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "<h1" in page and "aichat" in page
    assert 'id="status"' in page and "running" in page
    for link in ('href="/admin/"', 'href="/demo"', 'href="/api/v1/openapi.json"', 'href="/health"'):
        assert link in page, link
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_the_root_page_tells_no_secret_and_no_version(client):
    page = client.get("/").get_data(as_text=True)
    assert __version__ not in page
    assert not [secret for secret in ALL_SECRETS if secret in page]
    assert "csrf" not in page.lower()


def test_the_root_page_speaks_chinese(client):
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in page
    assert "管理控制台" in page and "运行中" in page and "running" not in page
    assert 'href="/demo?lang=zh-CN"' in page


def test_a_signed_out_visitor_is_not_sent_to_the_sign_in(client):
    resp = client.get("/")
    assert resp.status_code == 200 and "Location" not in resp.headers
