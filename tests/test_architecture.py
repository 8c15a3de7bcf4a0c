"""The imports ARCHITECTURE.md says are never allowed, checked on the source (every import, top level or not)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aichat"


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, absolute, relative ones resolved against its package."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module or "")
    return found


def modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("gateway") + modules("providers"), ids=lambda p: p.name)
def test_the_core_knows_nothing_of_flask_or_the_app(path):
    forbidden = ("flask", "flask_", "aichat.api", "aichat.usage", "aichat.models", "aichat.extensions",
                 "aichat.admin", "aichat.health", "aichat.telemetry")
    bad = [name for name in imports_of(path) if name == "flask" or name.startswith(forbidden)]
    assert bad == [], f"{path.relative_to(PACKAGE.parent)} imports {bad}"


@pytest.mark.parametrize("path", modules("providers"), ids=lambda p: p.name)
def test_providers_do_not_reach_into_the_gateway(path):
    assert not [name for name in imports_of(path) if name.startswith("aichat.gateway")]


def test_feature_commands_do_not_import_the_registry_that_imports_them():
    registry = (PACKAGE / "cli.py", PACKAGE / "__init__.py")  # the registry, and the factory that calls it
    offenders = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                 if p not in registry and "aichat.cli" in imports_of(p)]
    assert offenders == []


# Libraries' own variables, which decide how the library itself behaves, are read where the library is used.
LIBRARY_VARIABLES = {
    "gateway/tokens.py",  # TIKTOKEN_CACHE_DIR, set for tiktoken while `flask tokens fetch` downloads
    "telemetry/metrics.py",  # PROMETHEUS_MULTIPROC_DIR: prometheus_client's storage, set by gunicorn.conf.py
}


def test_only_config_reads_the_environment():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        name = str(path.relative_to(PACKAGE))
        if ("os.environ" in text or "os.getenv" in text) and name != "config.py" and name not in LIBRARY_VARIABLES:
            readers.append(name)
    assert readers == []
