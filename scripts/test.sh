#!/usr/bin/env bash
# make test: the same set-up as make run (venv, database), then the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work
# offline). Install it when missing and we are allowed to.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser tests (apt-get)..."
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }) >/dev/null
  else
    echo "Chromium is not installed and cannot be installed here: the browser tests will fail." >&2
  fi
fi

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
