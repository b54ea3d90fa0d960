# Two commands matter: `make run` and `make test`. Everything else is a building block.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: check-ts-sdk run test test-reliability test-observability lint typecheck unit schemas schemas-check bench bench-quick clean venv docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/claude-kafka dev --demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

schemas: $(STAMP)
	$(BIN)/python -m schemas.generate

# The suite is mostly waiting on brokers and child processes, so it runs in TEST_WORKERS pytest-xdist
# workers, each with a broker and an emulator of its own (issue 18). TEST_WORKERS=1 runs it serially.
# --dist loadgroup keeps each `xdist_group` (tests sharing an expensive module fixture) on one worker.
TEST_WORKERS ?= 4
XDIST = $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup)

test: lint typecheck
	$(BIN)/python -m pytest -q $(XDIST) --ignore=tests/reliability --ignore=tests/observability $(PYTEST_ARGS)

# The fault suite of issue 11 (~3 min on 2 cores): crashes, API faults, broker trouble, scale, hostile
# input, secrets, bounded memory. Kept out of `make test` to hold that under its time budget; CI runs both.
test-reliability: $(STAMP)
	$(BIN)/python -m pytest -q tests/reliability $(PYTEST_ARGS)

# Issue 20: a real Prometheus (Debian's `prometheus` package, with promtool) scrapes the service under
# load, every dashboard query must return data and every alert rule has a `promtool test rules` case.
# The package is installed when missing; its own daemon is not wanted (the tests start theirs).
test-observability: $(STAMP)
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "test-observability needs prometheus and promtool: run 'sudo apt-get install -y prometheus'"; exit 1; \
	  fi; \
	  install="apt-get install -y -qq --no-install-recommends prometheus"; \
	  DEBIAN_FRONTEND=noninteractive $$install >/dev/null || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$install; } || exit 1; \
	  service prometheus stop >/dev/null 2>&1 || true; \
	fi
	$(BIN)/python -m pytest -q tests/observability $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run --full

bench-quick: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

docs: $(STAMP)
	$(BIN)/python -m service.configdoc

# The emulator checked with the official TypeScript SDK (needs node + npm; not part of `make test`).
check-ts-sdk: $(STAMP)
	cd tests/emulator/ts_sdk && npm install --silent --no-audit --no-fund
	$(BIN)/claude-kafka emulator --port 18765 --batch-time-scale 0.0001 & pid=$$!; \
	  $(BIN)/python -c "import sys; from service.devbroker import wait_for_port; sys.exit(not wait_for_port('127.0.0.1', 18765, 20))" && \
	  BASE=http://127.0.0.1:18765 node tests/emulator/ts_sdk/check.mjs; rc=$$?; kill $$pid; exit $$rc
