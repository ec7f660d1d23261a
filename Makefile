# Bastion: `make demo` and `make test` do all set-up on a fresh machine, then run.
# Set-up steps are stamped: each reruns only when its inputs (lock or project files) change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
STAMPS := .stamps
# The gas suites behind .gas-snapshot: full-transaction gas (--isolate) of the guards and the protocol.
GAS_SUITES := --match-path 'test/gas/*'

export BASTION_ROOT := $(CURDIR)
export FOUNDRY_SOLC := $(CURDIR)/tools/solc

.PHONY: help setup build test demo bench-gas gas-snapshot rehearse test-deep clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMPS):
	@mkdir -p $(STAMPS)

$(STAMPS)/venv: pyproject.toml | $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(STAMPS)/node: package.json package-lock.json | $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMPS)/venv $(STAMPS)/node ## Create .venv and node_modules (skipped when up to date)

build: setup ## Set up and compile the contracts (forge caches unchanged sources)
	$(FORGE) build

# forge lint compiles ABI-only artifacts: they go to cache/lint, never over out/ (which Python reads).
test: build ## Forge format and lint checks, forge tests, gas regression check, pytest and ruff; non-zero exit on any failure
	$(FORGE) fmt --check
	FOUNDRY_OUT=cache/lint/out FOUNDRY_CACHE_PATH=cache/lint $(FORGE) lint --deny warnings
	$(FORGE) test
	$(FORGE) snapshot --isolate --check --tolerance 2 $(GAS_SUITES)
	$(PY) -m pytest -q
	$(PY) -m ruff check src tests bench

demo: build ## Run Bastion's main job on an embedded local chain, then exit
	$(VENV)/bin/bastion demo

bench-gas: build ## Gas overhead of the guards and the protocol's operations (last line: JSON)
	$(PY) bench/bench_gas.py

gas-snapshot: build ## Re-record .gas-snapshot after an intended gas change (commit it)
	$(FORGE) snapshot --isolate $(GAS_SUITES)

rehearse: build ## Exploit rehearsal: every scenario at every defence level (table, runs/rehearsal.json, docs/rehearsal.md)
	$(VENV)/bin/bastion rehearse --defences none,onchain,watchtower,all --jobs 2 --json runs/rehearsal.json

test-deep: build ## Forge fuzz and invariant tests with far more runs
	FOUNDRY_PROFILE=deep $(FORGE) test

clean: ## Remove everything `make build` creates
	rm -rf $(VENV) node_modules out cache $(STAMPS) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
