"""The widget on a host page of another origin with a strict CSP, against a gateway wired to the fake OpenAI."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, Response, request

from aichat.runtime import runtime_of

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "widget"

# Listens before any page script runs (Playwright's init scripts are not subject to the page's CSP).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""

HOST_CSS = """
/* A careless host stylesheet: none of it may reach inside the widget. */
button { display: none !important; }
div, section, textarea { border: 7px solid red !important; font-size: 9px !important; }
body { font-family: serif; }
"""

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A host page</title>
<link rel="stylesheet" href="/host.css">
<script src="{gateway}/static/aichat/widget.js" data-site="{site}" {attributes} defer></script>
</head>
<body><h1>A shop</h1><p><a href="#top" id="host-link">A link of the host page</a></p></body>
</html>"""


@dataclass
class Host:
    """The host page's origin: the page, its stylesheet, and the CSP reports the browser sent it."""

    gateway: str = ""
    site: str = ""
    base: str = ""
    reports: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # name -> (body, mimetype), served at /files/<name>
    lock: threading.Lock = field(default_factory=threading.Lock)

    def csp(self, nonce: str | None = None) -> str:
        """The host's policy: scripts and styles from itself and the gateway, or only those carrying `nonce`."""
        allowed = f"'nonce-{nonce}'" if nonce else f"'self' {self.gateway}"
        return (f"default-src 'self'; script-src {allowed}; style-src {allowed}; "
                f"connect-src 'self' {self.gateway}; img-src 'self'; object-src 'none'; base-uri 'none'; "
                f"report-uri /csp-report")

    def url(self, lang: str = "en", **attributes: str) -> str:
        query = "&".join(f"{name}={value}" for name, value in {"lang": lang, **attributes}.items())
        return f"{self.base}/?{query}"

    def app(self) -> Flask:
        app = Flask("host")

        @app.get("/")
        def page():
            lang, nonce = request.args.get("lang", "en"), request.args.get("nonce")
            attributes = " ".join(f'data-{name.replace("_", "-")}="{value}"' for name, value in request.args.items()
                                  if name not in ("lang", "nonce"))
            if nonce:
                attributes += f' nonce="{nonce}"'
            html = PAGE.format(lang=lang, gateway=self.gateway, site=self.site, attributes=attributes)
            if nonce:  # the page's own stylesheet is then allowed by its nonce too
                html = html.replace('<link rel="stylesheet" href="/host.css">',
                                    f'<link rel="stylesheet" href="/host.css" nonce="{nonce}">')
            return Response(html, headers={"Content-Security-Policy": self.csp(nonce)})

        @app.get("/host.css")
        def css():
            return Response(HOST_CSS, mimetype="text/css")

        @app.get("/files/<name>")
        def served(name):
            body, mimetype = self.files[name]
            return Response(body, mimetype=mimetype, headers={"Content-Security-Policy": self.csp()})

        @app.get("/favicon.ico")
        def favicon():
            return "", 204

        @app.post("/csp-report")
        def report():
            with self.lock:
                self.reports.append(json.loads(request.get_data() or b"{}"))
            return "", 204

        return app


@pytest.fixture
def widget_setup(gateway_app, fake_openai, live_server):
    """(gateway app, host): a gateway whose site `shop.test` lists the host page's origin; `limits` are
    `flask sites create` options such as ["--rpm", "1"], `settings` the gateway's."""

    def build(*limits: str, **settings):
        app = gateway_app(AICHAT_PROVIDER_ORDER=["openai"], GEMINI_API_KEY=[], AICHAT_CONFIG_POLL_INTERVAL=0,
                          AICHAT_SUGGESTIONS=True, **settings)
        host = Host()
        host.base = live_server(host.app())
        host.gateway = live_server(app)
        result = app.test_cli_runner().invoke(args=["sites", "create", "shop.test", "--origin", host.base, *limits])
        assert result.exit_code == 0, result.output
        host.site = result.stdout.strip()
        runtime_of(app).tenancy.poll()
        return app, host

    return build


@pytest.fixture
def browser_page(_browser):
    """A page in a fresh context (its own localStorage) that records console messages and CSP violations."""
    contexts = []

    def open_page(**context_options):
        # No animation: a panel mid-fade would make the screenshots and the geometry checks flaky.
        context = _browser.new_context(**{"reduced_motion": "reduce", **context_options})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.messages = []
        page.on("console", lambda msg: page.messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: page.messages.append(f"pageerror: {exc}"))
        page.add_init_script(WATCH)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> None:
    """Save the page as docs/screenshots/widget/<name>.png (the README and docs/widget.md name them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
