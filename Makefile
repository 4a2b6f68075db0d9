# EcomOps: `make run` serves the app with a worker; `make test` runs the whole suite.
# Both create .venv, install requirements.txt and start the embedded PostgreSQL (pgserver,
# in .data/pg) unless DATABASE_URL is set. Nothing needs to be installed by hand.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# make test's pytest-xdist processes, each with its own test database and queue (0: one process)
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv and install requirements.txt

.PHONY: db
db: venv ## Start the embedded PostgreSQL (unless DATABASE_URL is set)
	@if [ -z "$$DATABASE_URL" ]; then $(PY) -m ecomops.dbsetup start >/dev/null; fi

.PHONY: db-stop
db-stop: venv ## Stop the embedded PostgreSQL
	@$(PY) -m ecomops.dbsetup stop

.PHONY: migrate
migrate: db ## Migrate the public schema and every tenant schema
	@$(PY) manage.py migrate_schemas --executor standard -v 0

.PHONY: run
run: venv ## Serve on http://127.0.0.1:$(PORT) with a worker and the demo tenant (Ctrl-C stops all)
	@PORT=$(PORT) bash scripts/run.sh

.PHONY: test
test: venv ## Run the whole test suite (embedded PostgreSQL unless DATABASE_URL is set)
	@bash scripts/test.sh -n $(TEST_WORKERS) $(ARGS)

.PHONY: lint
lint: venv ## ruff lint and format check
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

.PHONY: clean
clean: db-stop ## Stop the embedded database and remove .data (keeps .venv)
	rm -rf .data
