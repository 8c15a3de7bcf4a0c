"""The committed build in static/aichat/: up to date with widget/src, within its size budget, and written from
sources that never turn strings into HTML or code."""
import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_service

BUILT = ROOT / "static" / "aichat"
SOURCES = ROOT / "widget" / "src"
FILES = ("widget.js", "widget.js.LEGAL.txt", "widget.css", "client.js", "client.d.ts", "sizes.json")
TAG_LOADS = ("widget.js", "widget.css")
BUDGET = 40 * 1024


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def test_the_committed_build_is_the_build_of_the_sources(tmp_path):
    node = shutil.which("node")
    require_service(node is not None and (ROOT / "node_modules" / "esbuild").is_dir(),
                    "node and node_modules are needed to rebuild the widget: run `npm ci` (scripts/widget.sh does)")
    result = subprocess.run([node, "widget/build.mjs", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    stale = [name for name in FILES if (tmp_path / name).read_bytes() != (BUILT / name).read_bytes()]
    assert stale == [], f"static/aichat/ is not the build of widget/src: run `npm run build` and commit {stale}"


def test_everything_the_tag_loads_fits_the_budget_and_the_docs_say_how_much():
    total = sum(gzipped(BUILT / name) for name in TAG_LOADS)
    assert total <= BUDGET, f"the tag loads {total} bytes gzipped, over {BUDGET}"
    sizes = json.loads((BUILT / "sizes.json").read_text())  # as the build measured them (Node's zlib)
    assert sizes["tag_gzip"] <= BUDGET and abs(sizes["tag_gzip"] - total) < 1024
    docs = (ROOT / "docs" / "widget.md").read_text()
    for row in sizes["files"]:
        line = f"| `{row['name']}` | {row['raw'] / 1024:.1f} KB | {row['gzip'] / 1024:.1f} KB |"
        assert line in docs, f"the size table in docs/widget.md is out of date; it should read: {line}"
    assert f"| everything the tag loads | | {sizes['tag_gzip'] / 1024:.1f} KB |" in docs


@pytest.mark.parametrize("path", sorted(SOURCES.glob("*.js")), ids=lambda p: p.name)
def test_the_widget_never_writes_html_or_code_from_strings(path):
    """Model text reaches the DOM only through render.js (Markdown, then DOMPurify); nothing else parses HTML."""
    text = path.read_text()
    found = re.findall(r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                       r"setAttribute\(\s*['\"]style|\.cssText", text)
    assert found == []
