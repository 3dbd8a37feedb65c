# The two commands of README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
# `make run PORT=8001 HOST=0.0.0.0` serves elsewhere than the default 127.0.0.1:8000.
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test check lint schema bench bench-quick clean servers lock upgrade add graphiql screenshots

# The venv holds exactly what requirements.lock pins (hashes checked): when the lock changes it
# is made again from scratch, so nothing from an older lock stays behind. The project itself
# goes in last, editable, without its dependencies (they all came from the lock) and without
# build isolation (the build backend is pinned in the lock too); `pip check` then fails when
# pyproject.toml asks for something the lock lacks.
$(VENV)/.locked: $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --requirement $(LOCK)
	touch $@

$(VENV)/.installed: $(VENV)/.locked pyproject.toml
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "$(LOCK) does not match pyproject.toml: run 'make lock'" >&2; exit 1; }
	touch $@

## Run the server on the embedded default (SQLite demo database, GraphiQL, a printed admin token).
run: $(VENV)/.installed
	$(BIN)/lumbung serve --host $(HOST) --port $(PORT)

## Install what the tests need (venv, MariaDB and Redis binaries) and run every test.
test: $(VENV)/.installed servers
	$(BIN)/python -m pytest

servers:
	./scripts/ensure-servers

## Redraw README's screenshots of the admin page (docs/screenshots/) with the browser tests.
screenshots: $(VENV)/.installed servers
	LUMBUNG_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/admin/test_page_browser.py

## Format check, lint, types, then the tests. CI runs this (.ci/run).
check: lint test

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

## Rewrite requirements.lock from pyproject.toml, keeping every pin that still fits.
lock:
	PYTHON=$(PYTHON) ./scripts/lock

## The newest versions of everything that pyproject.toml allows (review the diff, then commit).
upgrade:
	PYTHON=$(PYTHON) ./scripts/lock --upgrade

## A new dependency, e.g. `make add DEP=croniter` or `make add DEP='aiosmtpd>=1.4' EXTRA=test`:
## into pyproject.toml (with the locked version as its lower bound when DEP has none), then
## into requirements.lock and the venv.
add:
	@test -n "$(DEP)" || { echo "usage: make add DEP='name[>=version]' [EXTRA=test|dev]" >&2; exit 2; }
	PYTHON=$(PYTHON) $(PYTHON) scripts/add_dependency.py $(if $(EXTRA),--extra $(EXTRA)) '$(DEP)'
	$(MAKE) $(VENV)/.installed

## Rewrite schema/schema.graphql from the code.
schema: $(VENV)/.installed
	$(BIN)/python -m schema

## Fetch GraphiQL's assets again from the npm registry, checked against their MANIFEST.
graphiql:
	./scripts/fetch-graphiql

## Every benchmark, each beside its reference tool (needs wrk and mydumper: apt-get install wrk
## mydumper). ~65 min.
## Each writes bench/results/<name>.json and renders bench/RESULTS.md (see bench/README.md).
bench: $(VENV)/.installed servers
	$(BIN)/python -m bench.graphql_vs_bare
	$(BIN)/python -m bench.cache_clear
	$(BIN)/python -m bench.backup_restore
	$(BIN)/python -m bench.parallel_restore
	$(BIN)/python -m bench.parallel_dump
	$(BIN)/python -m bench.subscribers
	$(BIN)/python -m bench.drill_evidence
	$(BIN)/python -m bench.offsite_encryption

## Each benchmark once in a tiny configuration: does it still run? Records nothing. ~3 min.
bench-quick: $(VENV)/.installed servers
	$(BIN)/python -m bench.graphql_vs_bare --quick
	$(BIN)/python -m bench.cache_clear --quick
	$(BIN)/python -m bench.backup_restore --quick
	$(BIN)/python -m bench.parallel_restore --quick
	$(BIN)/python -m bench.parallel_dump --quick
	$(BIN)/python -m bench.subscribers --quick
	$(BIN)/python -m bench.drill_evidence --quick
	$(BIN)/python -m bench.offsite_encryption --quick

clean:
	rm -rf $(VENV) .venv-tools .mypy_cache .ruff_cache .pytest_cache
