# `make serve` and `make test` are the two commands the README opens with; .ci/run calls `make test`.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

setup-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

serve: setup
	$(BIN)/hatchway serve --bind 127.0.0.1:8000 --access-log -

test: setup-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Needs wrk (apt-get install wrk).  Servers against peers, then frameworks in-process.
bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/servers.py
	$(BIN)/python bench/frameworks.py

.PHONY: setup setup-test serve test bench
