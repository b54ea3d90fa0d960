# Two commands matter: `make run` and `make test`. Everything else is a building block.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: check-ts-sdk run test test-reliability lint typecheck unit schemas schemas-check bench bench-quick clean venv docs

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

test: lint typecheck
	$(BIN)/python -m pytest -q --ignore=tests/reliability $(PYTEST_ARGS)

# The fault suite of issue 11 (~3 min on 2 cores): crashes, API faults, broker trouble, scale, hostile
# input, secrets, bounded memory. Kept out of `make test` to hold that under its time budget; CI runs both.
test-reliability: $(STAMP)
	$(BIN)/python -m pytest -q tests/reliability $(PYTEST_ARGS)

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
