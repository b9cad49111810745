# Vernissage: `make run` sets up and starts everything; `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test test-sqlite setup lint format chromium check-services clean

run: setup check-services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py build_demo_model
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py c2pa_dev_ca
	@echo "Vernissage: http://127.0.0.1:$${VERNISSAGE_PORT:-8000}/  (Ctrl-C stops the web server, the worker and the dispatcher)"
	$(BIN)/honcho start

# Tests run against PostgreSQL unless DATABASE_URL says otherwise (`make test-sqlite`: the default).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/vernissage
test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
# Two pytest-xdist workers: tests that start processes stay together on one (tests/conftest.py).
PYTEST_WORKERS ?= 2
test: setup chromium check-services
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The SQLite pass leaves out what cannot depend on the engine (the permission matrix, the NUL-in-URL
# walk, what a browser sees), and fault injection: they ran on the PostgreSQL pass. The SQLite
# paths that involve several processes (web, worker, dispatcher) run in tests/integration.
test-sqlite: setup chromium
	DATABASE_URL= $(MAKE) --no-print-directory test TEST_DATABASE_URL= PYTEST_ARGS='-m "not postgres_pass and not browser" $(PYTEST_ARGS)'

setup: $(STAMP)

# torch first, from the local CPU wheel: anything that pulls plain `torch` later finds it satisfied.
# `.[dev]` includes the `worker` extra (diffusers, transformers, accelerate): development and the
# tests run real pipelines; only the web image installs without it (docker/Dockerfile).
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

check-services:
	@$(BIN)/python scripts/check_services.py

# The same checks as .pre-commit-config.yaml: format, lint, the one-way layers, types; then the
# deploy files (Dockerfile, compose, Helm chart) through linters that need no Docker engine and
# no helm binary (scripts/lint_deploy.py says which; about 5 s).
lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python scripts/lint_deploy.py

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var
