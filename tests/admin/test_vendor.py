"""The console's front-end libraries in static/admin/vendor/ are the pinned packages' files, licences beside them."""
import json
import shutil
import subprocess

from tests.conftest import ROOT, require_service

VENDOR = ROOT / "static" / "admin" / "vendor"


def test_the_vendored_chart_js_is_the_pinned_package(tmp_path):
    require_service(shutil.which("node") is not None and (ROOT / "node_modules" / "chart.js").is_dir(),
                    "node and node_modules are needed to compare the vendored files: run `npm ci` (scripts/widget.sh does)")
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["chart.js"]
    installed = json.loads((ROOT / "node_modules" / "chart.js" / "package.json").read_text())["version"]
    assert installed == pinned
    before = {p.name: p.read_bytes() for p in VENDOR.iterdir()}
    result = subprocess.run(["node", "scripts/vendor.mjs"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    after = {p.name: p.read_bytes() for p in VENDOR.iterdir()}
    assert after == before, "static/admin/vendor/ is not the pinned packages' files: run `npm run build` and commit"
    head = before["chart.umd.min.js"][:200].decode()
    assert f"Chart.js v{pinned}" in head and "sourceMappingURL" not in before["chart.umd.min.js"].decode()[-200:]
    assert "MIT" in before["chart.umd.min.js.LICENSE.md"].decode()
