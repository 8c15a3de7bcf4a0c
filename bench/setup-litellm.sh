#!/usr/bin/env bash
# Idempotent: create bench/.venv-litellm and install the LiteLLM proxy into it.
# Kept apart from the project's virtualenv so LiteLLM's dependency pins never
# touch aichat's. Installs the version pinned in requirements-litellm.txt; with
# no pin yet, installs the latest litellm[proxy] and writes the pin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-litellm"
req="$here/requirements-litellm.txt"
python="${PYTHON:-python3}"

installed() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true
}
pinned() {
    sed -n 's/^litellm\[proxy\]==//p' "$req" 2>/dev/null || true
}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

if [ -n "$(pinned)" ] && [ "$(installed)" = "$(pinned)" ]; then
    : # already there
elif [ -s "$req" ]; then
    "$venv/bin/python" -m pip install --quiet -r "$req"
else
    "$venv/bin/python" -m pip install --quiet 'litellm[proxy]'
    printf '# Pinned by setup-litellm.sh; the benchmark compares against this release.\nlitellm[proxy]==%s\n' "$(installed)" > "$req"
fi

version="$(installed)"
if [ -z "$version" ]; then
    echo "LiteLLM did not install (is PyPI reachable?)" >&2
    exit 1
fi
echo "LiteLLM $version ready in bench/.venv-litellm"
