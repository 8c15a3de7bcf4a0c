#!/usr/bin/env bash
# The whole suite on SQLite and on PostgreSQL (DATABASE_URL for the local server), the two runs side by side:
# they share nothing but the services (a schema of its own each, Redis keys under prefixes of their own), and
# most of a run's time is spent waiting on servers and sockets, so two cores carry both. The PostgreSQL run's
# output follows the SQLite run's.
set -u
cd "$(dirname "$0")/.."
postgres_log=$(mktemp "${TMPDIR:-/tmp}/aichat-tests-postgresql.XXXXXX")
trap 'rm -f "$postgres_log"' EXIT
DATABASE_URL="${AICHAT_TEST_POSTGRES_URL:-postgresql://127.0.0.1:5432/test}" \
    .venv/bin/python -m pytest "$@" >"$postgres_log" 2>&1 &
postgres=$!
status=0
echo "== tests on SQLite"
env -u DATABASE_URL .venv/bin/python -m pytest "$@" || status=$?
wait "$postgres" || status=$?
echo "== tests on PostgreSQL"
cat "$postgres_log"
exit $status
