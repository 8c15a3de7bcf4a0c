"""The console's help: docs/ listed and rendered for any signed-in admin, links kept, nothing else reachable."""
import re

import pytest

from aichat.admin import docs
from tests.admin.conftest import login
from tests.admin.test_console_tour import SCREENSHOTS
from tests.admin.test_pages_browser import WATCH
from tests.test_docs import DOCS, anchors

PAGES = [path for path in DOCS if path.stem != "README"]


@pytest.fixture
def viewer(app, make_admin):
    """A test client signed in as a viewer: the help is for every role."""
    make_admin(app, "viewer", token=False, role="viewer")
    client = app.test_client()
    assert login(client, "viewer").status_code == 302
    return client


def _html(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_signed_out_every_help_url_goes_to_the_login_page(client):
    for url in ("/admin/help/", "/admin/help/api", "/admin/help/nope"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"], url


def test_the_index_lists_every_document_by_its_first_heading(viewer):
    html = _html(viewer.get("/admin/help/"))
    listed = re.findall(r'<a href="/admin/help/([a-z0-9_-]+)"[^>]*>([^<]+)</a>', html)
    expected = {p.stem: re.search(r"^# (.+)$", p.read_text(), re.M).group(1).replace("`", "") for p in PAGES}
    assert dict(listed) == expected and len(listed) >= 10
    assert [name for name, _ in listed][:2] == ["api", "upstreams"], "the order of docs/README.md's table"


def test_the_console_s_help_menu_leads_here_and_speaks_chinese(viewer):
    """The header's help link opens the index; in Chinese the page's own words are Chinese, the documents English."""
    assert 'href="/admin/help/" id="help-link"' in _html(viewer.get("/admin/"))
    zh = {"Accept-Language": "zh-CN"}
    index = _html(viewer.get("/admin/help/", headers=zh))
    assert "<h1>帮助</h1>" in index and "文档为英文。" in index and "The documentation of aichat" not in index
    assert "The documents are in English." not in _html(viewer.get("/admin/help/", headers={"Accept-Language": "en"}))
    page = _html(viewer.get("/admin/help/api", headers=zh))
    assert 'aria-label="文档"' in page and '<article class="card help-doc" id="help-doc" lang="en">' in page


def test_a_document_renders_its_tables_headings_and_anchors(viewer):
    html = _html(viewer.get("/admin/help/configuration"))
    assert "<title>Configuration · Help · aichat</title>" in html
    assert '<h1 id="configuration">Configuration</h1>' in html
    assert "<table>" in html and "<td><code>AICHAT_TIMEZONE</code></td>" in html
    benchmarks = _html(viewer.get("/admin/help/benchmarks"))
    assert '<td align="right">' in benchmarks and "style=" not in benchmarks  # no style attribute for the CSP
    api = _html(viewer.get("/admin/help/api"))
    assert '<h2 id="the-monitoring-api">The monitoring API</h2>' in api
    assert '<pre><code class="language-json">' in api


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_every_anchor_the_docs_link_to_is_an_id_in_the_console(path):
    """The console's anchors are GitHub's: the links tests/test_docs.py checks work in the help as well."""
    html = docs.page(path.stem, "/admin/help/").html
    ids = re.findall(r'<h[1-6] id="([^"]+)"', html)
    assert ids == anchors(path)


def test_links_between_documents_lead_to_their_help_pages(viewer):
    html = _html(viewer.get("/admin/help/sites"))
    assert 'href="/admin/help/upstreams#when-redis-is-unreachable"' in html
    assert 'href="#client-keys"' in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert [h for h in hrefs if ".md" in h] == []
    # Every link in every document leads to a help page that exists, with an id that exists.
    for path in PAGES:
        page = docs.page(path.stem, "/admin/help/")
        for href in re.findall(r'<a href="(/admin/help/[^"]*)"', page.html):
            name, _, fragment = href.removeprefix("/admin/help/").partition("#")
            target = docs.page(name, "/admin/help/") if name else None
            assert name == "" or target is not None, (path.stem, href)
            if fragment:
                assert f'id="{fragment}"' in (target or page).html, (path.stem, href)


@pytest.mark.parametrize("url", [
    "/admin/help/..%2fREADME", "/admin/help/..%2f..%2fREADME", "/admin/help/..%2F..%2Fwsgi",
    "/admin/help/%2e%2e%2fpyproject", "/admin/help/%2e%2e", "/admin/help/..", "/admin/help/..%5cREADME",
    "/admin/help/README", "/admin/help/README.md", "/admin/help/api.md", "/admin/help/API",
    "/admin/help/nope", "/admin/help/%00", "/admin/help/screenshots", "/admin/help/..%2faichat%2fconfig",
])
def test_only_the_documents_can_be_opened(viewer, url):
    resp = viewer.get(url)
    assert resp.status_code == 404, url
    body = resp.get_data(as_text=True)
    assert "make run" not in body and "[project]" not in body and "create_app" not in body


def test_raw_html_in_a_document_is_shown_as_text(viewer, tmp_path, monkeypatch):
    """The Markdown is ours, but a <script> in it must still never run in an admin's session."""
    (tmp_path / "hostile.md").write_text(
        '# Hostile <b>title</b>\n\n<script>alert(1)</script>\n\n<div onclick="x()">block</div>\n\n'
        'inline <img src=x onerror=alert(2)> and [run](javascript:alert(3)) and [web](https://example.com)\n')
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    html = _html(viewer.get("/admin/help/hostile"))
    doc = html[html.index('id="help-doc"'):html.index("</article>")]
    assert "<script" not in doc and "<img" not in doc and "<div onclick" not in doc and "javascript:" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc and "&lt;img src=x onerror=alert(2)&gt;" in doc
    assert '<a href="https://example.com" rel="noopener noreferrer">web</a>' in doc
    assert re.findall(r'<a href="/admin/help/([a-z0-9_-]+)"', _html(viewer.get("/admin/help/"))) == ["hostile"]


def test_a_help_page_reads_under_the_policy_without_a_violation(app, make_admin, live_server, page):
    """In Chromium with the CSP in force: no violation, an anchor link lands on its heading, a phone's screen is
    enough; screenshots beside the console tour's."""
    make_admin(app, "viewer", token=False, role="viewer")
    base = live_server(app)
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.add_init_script(WATCH)
    page.goto(base + "/admin/login")
    page.fill("#username", "viewer")
    page.fill("#password", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for language in ("en", "zh_CN"):
        page.goto(f"{base}/language/{language}?next=/admin/help/")
        for path, shot in (("/admin/help/", "help"), ("/admin/help/benchmarks", None), ("/admin/help/sites", "help-sites")):
            assert page.goto(base + path).status == 200, path
            assert page.evaluate("window.__violations") == [] and not [m for m in messages if "Content Security" in m]
            if shot:
                page.screenshot(path=str(SCREENSHOTS / f"{shot}-{language}.png"), full_page=path.endswith("/"))
    assert page.evaluate("getComputedStyle(document.querySelector('.help-doc table')).overflowX") == "auto"
    page.click("#help-doc a[href='/admin/help/upstreams#when-redis-is-unreachable']")
    page.wait_for_url(base + "/admin/help/upstreams#when-redis-is-unreachable")
    assert page.evaluate("document.querySelector(':target').textContent") == "When Redis is unreachable"
    assert page.evaluate("window.__violations") == []
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: wide tables and code scroll inside the page
    page.goto(f"{base}/language/en?next=/admin/help/benchmarks")
    assert page.evaluate("document.querySelector('#help-doc').getBoundingClientRect().right <= innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 1
    page.screenshot(path=str(SCREENSHOTS / "help-benchmarks-en-phone.png"))  # the top: a document runs long
