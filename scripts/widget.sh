#!/usr/bin/env bash
# Install the widget's pinned toolchain (package-lock.json, from the npm registry only) so the tests can check
# that the committed build in static/aichat/ is the build of widget/src. Running the app never needs it.
# Without npm the check skips with the reason (and fails under CI=true).
set -u
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "widget.sh: npm is missing: the check of the widget's build will skip (install Node 20 and npm)" >&2
  exit 0
fi
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.lock-installed 2>/dev/null; then
  exit 0
fi
if npm ci --no-audit --no-fund --loglevel=error; then
  cp package-lock.json node_modules/.lock-installed
else
  echo "widget.sh: npm ci failed: the check of the widget's build will skip" >&2
fi
exit 0
