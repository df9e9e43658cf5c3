# GreenScore: `make demo` and `make test` set everything up themselves on a fresh machine.
# torch is installed first and pinned (a CPU wheel); an unpinned torch would pull a CUDA build.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.greenscore-installed
TORCH := torch==2.13.0
PYTEST_ARGS ?=

export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install demo test test-all bench lint format clean

install: $(STAMP)

# Re-runs only when the dependency list or this file changes, so a second `make` is instant.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	# DiCE declares xgboost (and a 469 MB NCCL wheel) but only its xgboost backend needs it.
	$(PY) -m pip install --quiet --no-deps 'dice-ml==0.12' 'raiutils>=0.4'
	@$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else f'torch drifted to {v}')"
	@touch $(STAMP)

demo: install
	$(VENV)/bin/greenscore demo --out demo-out

test: install
	$(PY) -m pytest -q -n 2 --timeout 600 $(PYTEST_ARGS)

test-all: install
	$(PY) -m pytest -q -n 2 --timeout 3600 -m "" $(PYTEST_ARGS)

# The serving benchmark drives the API with wrk (Debian's package) so the client does not
# compete with the server for the 2 cores.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) benchmarks/run_all.py

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf demo-out .greenscore .pytest_cache .ruff_cache
