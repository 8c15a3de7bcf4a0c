#!/usr/bin/env bash
# The whole suite, on SQLite and then on PostgreSQL (DATABASE_URL for the local server).
set -u
cd "$(dirname "$0")/.."
status=0
echo "== tests on SQLite"
.venv/bin/python -m pytest "$@" || status=$?
echo "== tests on PostgreSQL"
AICHAT_TEST_DATABASE=postgresql .venv/bin/python -m pytest "$@" || status=$?
exit $status
