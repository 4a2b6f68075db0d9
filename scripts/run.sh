#!/usr/bin/env bash
# make run: database, migrations, demo tenant, then the web server and a django-q2 worker.
# Ctrl-C (or either process dying) stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-ecomops.settings.dev}"

started_db=""
if [ -z "${DATABASE_URL:-}" ]; then
  if $PY -m ecomops.dbsetup start 2>&1 >/dev/null | grep -q '^started'; then started_db=1; fi
  echo "Database: embedded PostgreSQL in .data/pg"
else
  echo "Database: DATABASE_URL"
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$started_db" ]; then $PY -m ecomops.dbsetup stop >/dev/null; echo "Stopped the embedded database."; fi
}
trap cleanup INT TERM EXIT

$PY manage.py migrate_schemas --executor standard -v 0
$PY manage.py ensure_demo

if [ "${SANDBOXES:-1}" = "1" ]; then
  # Stripe, Shopify and NetSuite sandboxes on loopback, with the demo tenant's connections
  # pointed at them: a business to sync, reconcile and post without any outside account.
  $PY manage.py sandbox --configure-demo &
  pids+=($!)
fi
$PY manage.py qcluster &
pids+=($!)
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload &
pids+=($!)
echo "EcomOps on http://127.0.0.1:${PORT}/  (API health: /api/v1/health/, admin: /admin/)  Ctrl-C stops."
wait -n "${pids[@]}"
