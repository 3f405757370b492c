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

# curl, wrk, nginx and systemd-socket-activate, with the same script .ci/run uses.
tools:
	scripts/install-tools.sh

test: tools setup-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Needs wrk (apt-get install wrk).  Servers against peers, then frameworks in-process.
bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/servers.py
	$(BIN)/python bench/frameworks.py

# ka-hello with and without --metrics-bind and the JSON access log (needs wrk).
bench-observability: setup
	$(BIN)/python bench/observability.py

.PHONY: setup setup-test serve test bench tools bench-observability
