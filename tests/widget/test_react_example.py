"""examples/react: the seed's AIChatContext.tsx on the typed client, type-checked against client.d.ts, built with
the pinned toolchain and used in Chromium from a site's origin under a strict CSP."""
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, require_service
from tests.widget.conftest import WATCH

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>React example</title>
<script type="module" src="/files/app.js"></script></head>
<body><div id="root" data-gateway="{gateway}" data-site="{site}"></div></body></html>"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    node = shutil.which("node")
    require_service(node is not None and (ROOT / "node_modules" / "react").is_dir(),
                    "node and node_modules are needed to build the React example: run `npm ci` (scripts/widget.sh)")
    out = tmp_path_factory.mktemp("react")
    subprocess.run([node, "examples/react/build.mjs", "--out", str(out)], cwd=ROOT, check=True, timeout=120)
    return (out / "app.js").read_bytes()


def test_the_example_type_checks_against_the_clients_declarations(built):
    result = subprocess.run([str(ROOT / "node_modules" / ".bin" / "tsc"), "-p", "examples/react"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_streams_answers_and_shows_a_typed_429(built, widget_setup, fake_openai, _browser):
    app, host = widget_setup("--rpm", "1")
    host.files["app.js"] = (built, "text/javascript")
    host.files["index.html"] = (PAGE.format(gateway=host.gateway, site=host.site), "text/html")
    context = _browser.new_context()
    page = context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    page.add_init_script(WATCH)
    page.goto(host.base + "/files/index.html")
    fake_openai.plan(text="<b>not bold</b> streamed one word at a time", chunk_interval=0.05)
    page.get_by_label("Message").fill("Hello")
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("() => document.querySelector('li.assistant')?.textContent.endsWith('time')")
    page.get_by_role("button", name="Send").wait_for()
    assert page.locator("li.assistant").inner_text() == "<b>not bold</b> streamed one word at a time"
    assert page.locator("li.assistant b").count() == 0
    page.get_by_label("Message").fill("Again")
    page.get_by_role("button", name="Send").click()
    assert page.get_by_role("alert").inner_text().startswith("Too many messages; try again in ")
    assert page.evaluate("window.__violations") == []
    assert [m for m in messages if m.startswith("error") and "Failed to load resource" not in m] == []
    assert host.reports == []
    context.close()
