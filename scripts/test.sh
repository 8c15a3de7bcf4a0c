#!/usr/bin/env bash
# The whole suite, on SQLite and then on PostgreSQL (DATABASE_URL for the local server).
set -u
cd "$(dirname "$0")/.."
status=0
echo "== tests on SQLite"
env -u DATABASE_URL .venv/bin/python -m pytest "$@" || status=$?
echo "== tests on PostgreSQL"
DATABASE_URL="${AICHAT_TEST_POSTGRES_URL:-postgresql://127.0.0.1:5432/test}" .venv/bin/python -m pytest "$@" || status=$?
exit $status
