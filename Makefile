# `make serve` and `make test` are the two commands the README opens with; .ci/run calls `make test`.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

# Once per change of what the install reads (CI calls several targets that each need it; a no-op pip run still
# costs ~30 s here).  The install is editable, so source edits need no re-run.
$(VENV)/.test-deps: pyproject.toml setup.py _build/backend.py | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup-test: $(VENV)/.test-deps

serve: setup
	$(BIN)/hatchway serve --bind 127.0.0.1:8000 --access-log -

# ruff over the whole tree (sources, tests, bench, scripts) and mypy over hatchway/ (files= and the strict
# overrides are in pyproject.toml).  .ci/run calls this first: a lint failure costs seconds, not a suite run.
lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# curl, wrk, nginx and systemd-socket-activate, with the same script .ci/run uses.
tools:
	scripts/install-tools.sh

# PYTEST_ARGS: extra pytest arguments for test, test-mode and test-compiled, e.g. "-n 2" (pytest-xdist, in the test
# extra; the whole suite passed with it, 300 s against 336 s serial on a loaded 2-core box) or "--durations=25".
# CI runs serially: the free-port probes in tests/ops (bind 0, close, reuse) can race between two workers.
PYTEST_ARGS ?=

test: tools setup-test
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The suites HWTEST_MODE changes (corpus, http, server, wsgi; Flask on make_server) in one mode: MODE=auto|inline|pool.
# The sans-I/O parser tests run no server, so no mode changes them: `make test` runs them once.
SANS_IO = tests/http/test_http_protocol.py tests/http/test_http_tokenizer.py tests/corpus/test_http_split_corpus.py
test-mode: tools setup-test
	HWTEST_MODE=$(MODE) $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/corpus tests/http \
	  tests/server tests/wsgi tests/e2e/test_e2e_flask.py $(addprefix --ignore=,$(SANS_IO))

# Needs wrk (apt-get install wrk).  Servers against peers, then frameworks in-process.
bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/servers.py
	$(BIN)/python bench/frameworks.py

# ka-hello with and without --metrics-bind and the JSON access log (needs wrk).
bench-observability: setup
	$(BIN)/python bench/observability.py

# The compiled build (mypyc; docs/build.md) in its own venv, installed non-editable from the working tree.
# Re-run after changing a compiled module: the install is a copy, not a link.
CVENV ?= .venv-mypyc
CBIN = $(CVENV)/bin

$(CBIN)/python:
	$(PY) -m venv $(CVENV)

# The dependencies, once per pyproject.toml change (this installs a pure hatchway too; `compiled` replaces it).
$(CVENV)/.deps: pyproject.toml | $(CBIN)/python
	$(CBIN)/python -m pip install -q '.[test]'
	touch $@

compiled: $(CVENV)/.deps
	HATCHWAY_COMPILE=mypyc $(CBIN)/python -m pip install -q --no-deps --force-reinstall .
	$(CBIN)/python -P -m hatchway.build  # -P: not the source tree in the cwd

# The whole suite against the installed compiled package.  The tests run from a copy of the tree without
# hatchway/ (pytest puts only tests/ on sys.path; tests start servers with the root as cwd and PYTHONPATH), so the
# only hatchway they can import is the compiled one; HWTEST_EXPECT_BUILD makes a test assert exactly that.
test-compiled: compiled compiled-suite

# The suite half of test-compiled, against whatever `make compiled` last installed (.ci/run builds alongside lint).
compiled-suite:
	rm -rf build/installed-tests && mkdir -p build/installed-tests
	tar -cf - --exclude=./hatchway --exclude=./build --exclude='./.venv*' --exclude=./.git \
	  --exclude=__pycache__ --exclude=./bench/results . | tar -xf - -C build/installed-tests
	cd build/installed-tests && HWTEST_EXPECT_BUILD=mypyc $(abspath $(CBIN))/python -P -m pytest -q \
	  -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: setup setup-test lint serve test test-mode bench tools bench-observability compiled test-compiled compiled-suite
