# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEV_ENV := DEBUG=1

.PHONY: run test setup lint typecheck pytest pytest-sqlite pytest-postgres bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(INSTALLED)

# Browser bundles (LIFF SDK, camera scanner) from npm, built into static/*/dist/.
FRONTEND_BUILT := static/.frontend-built
FRONTEND_SOURCES := package.json package-lock.json $(wildcard scripts/*.mjs frontend/*.js pos_bridge/frontend/*.js analytics/frontend/*.js)

$(FRONTEND_BUILT): $(FRONTEND_SOURCES)
	npm ci --no-audit --no-fund --loglevel=error
	npm run build
	touch $(FRONTEND_BUILT)

setup: $(INSTALLED) $(FRONTEND_BUILT)

## Set up, migrate, load demo data and start the whole system on SQLite with the LINE sandbox.
run: $(INSTALLED) $(FRONTEND_BUILT)
	HOST=$(HOST) PORT=$(PORT) bin/dev-run

## Lint, type-check and run every test (SQLite; PostgreSQL too when TEST_POSTGRES_URL is set).
test: $(INSTALLED) $(FRONTEND_BUILT) lint typecheck pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: $(INSTALLED)
	$(DEV_ENV) $(VENV)/bin/mypy .

pytest: pytest-sqlite pytest-postgres

pytest-sqlite: $(INSTALLED)
	$(DEV_ENV) DATABASE_URL= $(VENV)/bin/pytest

pytest-postgres: $(INSTALLED)
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
		echo "== the whole suite again on PostgreSQL ($$TEST_POSTGRES_URL)"; \
		$(DEV_ENV) DATABASE_URL="$$TEST_POSTGRES_URL" $(VENV)/bin/pytest; \
	else \
		echo "== TEST_POSTGRES_URL not set: PostgreSQL run skipped (CI always sets it)"; \
	fi

## Throughput benchmark against gunicorn on PostgreSQL (see bench/README.md).
bench: $(INSTALLED)
	$(PY) bench/bench_purchases.py

clean:
	rm -rf $(VENV) node_modules static/*/dist $(FRONTEND_BUILT) .pytest_cache .mypy_cache .ruff_cache staticfiles
