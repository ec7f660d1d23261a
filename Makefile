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

.PHONY: help setup build test test-postgres proofs slither demo wheel lock bench-first-run bench-gas gas-snapshot rehearse test-deep clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMPS):
	@mkdir -p $(STAMPS)

# Python dependencies come pinned from the lock files (`make lock` regenerates them from pyproject.toml).
# The demo needs only the runtime set; `make test` adds the dev tools (ray, radcad, pytest, mypy, ...).
$(STAMPS)/venv: pyproject.toml requirements.lock | $(STAMPS)
	@echo "==> Python: creating .venv and installing the locked runtime packages (first run: 1-3 min)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(STAMPS)/dev: $(STAMPS)/venv requirements-dev.lock | $(STAMPS)
	@echo "==> Python: installing the locked dev tools (pytest, ray, radcad, mypy, build)"
	$(PY) -m pip install --progress-bar on -r requirements-dev.lock
	@touch $@

lock: $(STAMPS)/dev ## Re-resolve requirements.lock and requirements-dev.lock from pyproject.toml (commit them)
	$(VENV)/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --extra dev --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  -o requirements-dev.lock pyproject.toml

$(STAMPS)/node: package.json package-lock.json | $(STAMPS)
	@echo "==> Node: installing the pinned Foundry binaries, solc-js and Solidity libraries (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMPS)/venv $(STAMPS)/node ## Create .venv and node_modules (skipped when up to date)

# Only contracts/ (what Bastion deploys), one folder at a time so a first compile shows progress;
# forge caches unchanged sources. The artifacts are then staged into the package (bastion/data/artifacts),
# where Bastion loads them from: test contracts compiled by `make test` never mix with them.
CONTRACT_DIRS := $(sort $(wildcard contracts/*/))

build: setup ## Compile contracts/ and stage the artifacts Bastion deploys (tests compile in `make test`)
	@n=0; total=$(words $(CONTRACT_DIRS)); for dir in $(CONTRACT_DIRS); do \
	  n=$$((n + 1)); echo "==> [$$n/$$total] compiling $$dir"; $(FORGE) build $$dir; done
	$(PY) -c 'import sys; from bastion.chain.artifacts import main; sys.exit(main(["stage"]))'

# forge lint compiles ABI-only artifacts: they go to cache/lint, never over out/.
test: build $(STAMPS)/dev ## Forge format and lint checks, forge tests, gas check, pytest (SQLite and PostgreSQL), ruff, mypy
	$(FORGE) fmt --check
	FOUNDRY_OUT=cache/lint/out FOUNDRY_CACHE_PATH=cache/lint $(FORGE) lint --deny warnings
	@echo "==> compiling and running the forge tests (a first compile of test/ takes several minutes)"
	$(FORGE) test
	$(MAKE) --no-print-directory proofs
	$(FORGE) snapshot --isolate --check --tolerance 2 $(GAS_SUITES)
	$(PY) -m pytest -q -m 'not slow'
	$(MAKE) --no-print-directory test-postgres
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy

test-postgres: build $(STAMPS)/dev ## The watchtower and store tests again on a real PostgreSQL server the tests start (pgserver)
	BASTION_TEST_DATABASE=postgres $(PY) -m pytest -q -m 'not slow' tests/watch

# The proof and analysis tools pin packages that clash with ours (z3-solver; slither's web3<8), so each
# lives in its own virtualenv, installed from its own lock file.
PROOFS_VENV := .venv-proofs
SLITHER_VENV := .venv-slither

$(STAMPS)/proofs: requirements-proofs.lock | $(STAMPS)
	@echo "==> Python: creating $(PROOFS_VENV) with the locked halmos (symbolic execution for test/formal)"
	@test -x $(PROOFS_VENV)/bin/python || $(PYTHON) -m venv $(PROOFS_VENV)
	$(PROOFS_VENV)/bin/pip install --quiet -r requirements-proofs.lock
	@touch $@

# Halmos runs `forge build` itself (forge must be on PATH); the `formal` profile compiles test/formal and
# its imports only, into cache/formal. Each check_ function is a proof over all its symbolic inputs.
proofs: $(STAMPS)/proofs $(STAMPS)/node ## Halmos proofs of the guards' core properties (test/formal)
	PATH="$(CURDIR)/$(dir $(FORGE)):$$PATH" FOUNDRY_PROFILE=formal $(PROOFS_VENV)/bin/halmos \
	  --forge-build-out cache/formal/out --solver-timeout-assertion 300s

$(STAMPS)/slither: requirements-slither.lock | $(STAMPS)
	@echo "==> Python: creating $(SLITHER_VENV) with the locked slither-analyzer"
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet -r requirements-slither.lock
	@touch $@

# Slither reads forge's build (with build info) of contracts/ only; slither.config.json and docs/slither.md
# triage what is left. --force: a stale build-info file next to a fresh one would be analysed too.
slither: $(STAMPS)/slither $(STAMPS)/node ## Static analysis of contracts/ (slither; not part of make test)
	FOUNDRY_PROFILE=slither $(FORGE) build --build-info --force --skip 'test/**' --skip 'script/**'
	PATH="$(CURDIR)/$(dir $(FORGE)):$$PATH" FOUNDRY_PROFILE=slither $(SLITHER_VENV)/bin/slither . \
	  --config-file slither.config.json --foundry-ignore-compile

demo: build ## Run Bastion's main job on an embedded local chain, then exit
	$(VENV)/bin/bastion demo

wheel: build $(STAMPS)/dev ## A self-contained wheel in dist/ (artifacts, configs and data inside)
	$(PY) -m build --wheel --no-isolation --outdir dist

bench-first-run: ## Clone this repository into a temp folder and time `make demo` there (last line: JSON)
	$(PYTHON) bench/bench_first_run.py

bench-gas: build ## Gas overhead of the guards and the protocol's operations (last line: JSON)
	$(PY) bench/bench_gas.py

gas-snapshot: build ## Re-record .gas-snapshot after an intended gas change (commit it)
	$(FORGE) snapshot --isolate $(GAS_SUITES)

rehearse: build ## Exploit rehearsal: every scenario at every defence level (table, runs/rehearsal.json, docs/rehearsal.md)
	$(VENV)/bin/bastion rehearse --defences none,onchain,watchtower,all --jobs 2 --json runs/rehearsal.json

test-deep: build $(STAMPS)/dev ## Forge fuzz and invariant tests with far more runs, and the slow pytest tests (every rehearsal scenario through its aftermath)
	FOUNDRY_PROFILE=deep $(FORGE) test
	$(PY) -m pytest -q -m slow

clean: ## Remove everything `make build` creates
	rm -rf $(VENV) $(PROOFS_VENV) $(SLITHER_VENV) node_modules out cache $(STAMPS) .pytest_cache .ruff_cache .mypy_cache build dist
	rm -rf src/bastion/data/artifacts src/bastion/data/configs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
