# Handoff: `make run` sets up and serves the embedded default; `make test` sets up and passes
# the tests against a throwaway PostgreSQL and Redis. `make install` sets up development (the
# test tools included); `make install-prod` installs only what runs in production.

PYTHON ?= $(shell command -v python3.13 2>/dev/null || ls -d $$HOME/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROD_STAMP := $(VENV)/.installed-prod-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes for `make test` (each with its own test database and Redis database).
PYTEST_WORKERS ?= auto

.PHONY: run test test-faults lint format bench install install-prod clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 is needed: install it (pyenv install 3.13) or set PYTHON=/path/to/python3.13"; exit 1; }
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Production: the runtime dependencies only (no test tools), installed from this checkout,
# which holds the templates and static files the code reads.
install-prod: $(PROD_STAMP)

$(PROD_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 is needed: install it (pyenv install 3.13) or set PYTHON=/path/to/python3.13"; exit 1; }
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(PROD_STAMP)

# Development mode (DEBUG is off unless set). Links in e-mails and the offline billing
# gateway's webhooks go to where the server listens.
run: export DEBUG = True
run: export HANDOFF_SITE_URL ?= http://$(HOST):$(PORT)
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Handoff is running at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python scripts/test_services.py -- $(BIN)/python -m pytest \
		--numprocesses=$(PYTEST_WORKERS) --maxprocesses=4 $(PYTEST_ARGS)

# The fault tests: real gunicorn, Celery workers and beat on a PostgreSQL and a Redis of
# their own, stopped, restarted and killed under load (tests/faults/). One at a time.
test-faults: $(STAMP)
	$(BIN)/python scripts/test_services.py -- $(BIN)/python -m pytest -m faults \
		-p no:xdist tests/faults $(PYTEST_ARGS)

# Every benchmark against one PostgreSQL and Redis, then bench/REPORT.md (at most 20 minutes
# here). ONLY=ingestion,pql runs a subset; QUICK=1 small sizes, to develop a benchmark.
bench: $(STAMP)
	$(BIN)/python scripts/test_services.py -- $(BIN)/python -m bench.run \
		$(if $(ONLY),--only=$(ONLY)) $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
