# leadsync: the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types pytest soak bench clean postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# setup.py compiles these scoring modules with mypyc: an edit rebuilds them (see scoring/_native.py)
NATIVE := $(wildcard scoring/conditions.py scoring/engine.py scoring/numbers.py scoring/rules.py scoring/segments.py scoring/state.py scoring/timing.py)

$(STAMP): $(BIN)/python pyproject.toml setup.py scoring/_native.py $(NATIVE)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadsync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	bash scripts/test-services.sh $(BIN)/python -m pytest -n 2 -q
	@echo "scoring tests again on the plain-Python sources (the suite above ran the compiled engine when built)"
	LEADSYNC_PURE_PYTHON=1 $(BIN)/python -m pytest -n 2 -q tests/scoring

test: lint types pytest

soak: $(STAMP)
	LEADSYNC_SOAK=1 bash scripts/test-services.sh $(BIN)/python -m pytest -n 2 -q -m slow

BENCHES := bench/scoring.py bench/sandbox.py bench/api_calls.py bench/sync.py bench/calibration.py bench/dashboard.py

bench: $(STAMP)
	set -e; for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info *.so scoring/*.so scoring/_native_sources.json
