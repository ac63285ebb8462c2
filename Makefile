# diffphys: two commands do everything.
#   make demo   create .venv if missing, install, run the headline examples into out/
#   make test   create .venv if missing, install with test extras, run the test suite (not `slow`)
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
OUT     ?= out
STAMP   := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: demo test test-all bench lint install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/diffphys demo --out $(OUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=15

test-all: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "" --durations=25

# the peers pin their own JAX versions: they get a separate environment so .venv stays as tested
BENCH_VENV ?= .venv-bench
bench:
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -e ".[test,bench]"
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info src/*.egg-info
