# leadsync: the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types pytest soak bench clean postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadsync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	bash scripts/test-services.sh $(BIN)/python -m pytest -n 2 -q

test: lint types pytest

soak: $(STAMP)
	LEADSYNC_SOAK=1 bash scripts/test-services.sh $(BIN)/python -m pytest -n 2 -q -m slow

BENCHES := bench/scoring.py bench/sandbox.py bench/api_calls.py bench/sync.py bench/calibration.py

bench: $(STAMP)
	set -e; for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
