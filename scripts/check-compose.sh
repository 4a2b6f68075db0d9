#!/usr/bin/env bash
# Validate docker-compose.yml with docker-compose v1 (`docker-compose config`), in a
# throw-away virtualenv: no Docker engine is needed to parse the file.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/ecomops-compose-venv"
if [ ! -x "$venv/bin/docker-compose" ]; then
  python3 -m venv "$venv"
  # PyYAML 5.4 (docker-compose 1.29's pin) only builds with Cython < 3.
  "$venv/bin/pip" install -q --disable-pip-version-check "cython<3" wheel setuptools
  "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation "pyyaml==5.4.1"
  "$venv/bin/pip" install -q --disable-pip-version-check "docker-compose==1.29.2"
fi
tmp_env=""
if [ ! -f .env ]; then cp .env.example .env; tmp_env=1; fi
trap '[ -n "$tmp_env" ] && rm -f .env' EXIT
"$venv/bin/docker-compose" config -q
echo "docker-compose.yml is valid (docker-compose $("$venv/bin/docker-compose" version --short))"
