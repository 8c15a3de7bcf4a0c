"""The typed client's own tests (widget/test/, Node's test runner): SSE frames cut anywhere, typed errors, headers."""
import shutil
import subprocess

from tests.conftest import ROOT, require_service


def test_the_client_passes_its_node_tests():
    node = shutil.which("node")
    require_service(node is not None, "node is missing: the client's unit tests need Node 20 (no packages)")
    result = subprocess.run([node, "--test", "widget/test/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
