#!/usr/bin/env bash
# make test: the same set-up as make run (venv, database), then the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

started_db=""
if [ -z "${DATABASE_URL:-}" ]; then
  if $PY -m ecomops.dbsetup start 2>&1 >/dev/null | grep -q '^started'; then started_db=1; fi
  echo "Database: embedded PostgreSQL in .data/pg"
else
  echo "Database: DATABASE_URL${REDIS_URL:+, broker: Redis}"
fi
stop_db() { if [ -n "$started_db" ]; then $PY -m ecomops.dbsetup stop >/dev/null; fi; }
trap stop_db EXIT

$PY -m pytest "$@"
