# The two commands of README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# `make run PORT=8001 HOST=0.0.0.0` serves elsewhere than the default 127.0.0.1:8000.
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test check lint schema bench clean servers graphiql

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

## Run the server on the embedded default (SQLite demo database, GraphiQL, a printed admin token).
run: $(VENV)/.installed
	$(BIN)/lumbung serve --host $(HOST) --port $(PORT)

## Install what the tests need (venv, MariaDB and Redis binaries) and run every test.
test: $(VENV)/.installed servers
	$(BIN)/python -m pytest

servers:
	./scripts/ensure-servers

## Format check, lint, types, then the tests.
check: lint test

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

## Rewrite schema/schema.graphql from the code.
schema: $(VENV)/.installed
	$(BIN)/python -m schema

## Fetch GraphiQL's assets again from the npm registry, checked against their MANIFEST.
graphiql:
	./scripts/fetch-graphiql

## Every benchmark, each beside its reference tool (needs wrk: apt-get install wrk). ~30 min.
bench: $(VENV)/.installed servers
	$(BIN)/python bench/graphql_vs_bare.py
	$(BIN)/python bench/cache_clear.py
	$(BIN)/python bench/backup_restore.py
	$(BIN)/python bench/subscribers.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
