# Batchwatch: `make run` (the platform with demo data at http://127.0.0.1:8000) and `make test`.
# Both create .venv on first use; nothing but Python 3.11+ and make is needed.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes: one per core (pytest-xdist); PYTEST_WORKERS=0 runs the suite in this process.
PYTEST_WORKERS ?= auto
PORT ?=
RUN_ENV := $(if $(PORT),BATCHWATCH_BASE_URL=http://127.0.0.1:$(PORT))

.DEFAULT_GOAL := help
.PHONY: help venv run test lint format migrations clean

help:
	@echo "make run     start Batchwatch (SQLite, demo data) at http://127.0.0.1:8000 (PORT=8001: another port)"
	@echo "make test    run the test suite (DATABASE_URL=postgres://... for PostgreSQL)"
	@echo "make lint    ruff check, ruff format --check, lint-imports (layers) and mypy"
	@echo "make format  apply ruff's fixes and formatting"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed: install python3.11." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "$(PYTHON) is older than 3.11; set PYTHON=/path/to/python3.11." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# `make run PORT=8001`: another port, and the links the demo prints and sends point to it.
run: $(STAMP)
	@$(RUN_ENV) $(PY) manage.py serve --check-port $(if $(PORT),--port $(PORT))
	$(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py load_demo
	$(RUN_ENV) $(PY) manage.py serve $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=platform $(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations: $(STAMP)
	$(PY) manage.py makemigrations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
