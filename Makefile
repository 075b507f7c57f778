# The README's two commands: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's configured-but-absent mirror folders print one warning per package: noise.
QUIET_PIP := 2>&1 | { grep -v '^WARNING: Location' || true; }
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The demo keeps its own signing key and incidents, away from the user's real config.
DEMO_ENV := RESCIND_CONFIG_DIR=$(CURDIR)/.demo/config
DEMO_RUNBOOK ?= runbooks/aws-access-key-compromise.yaml
DEMO_RUN = $(DEMO_ENV) $(BIN)/rescind run $(DEMO_RUNBOOK) --mode exercise --out .demo/incidents

# Modules compile on first import (uv installs no .pyc): let them be cached, even where the
# environment sets PYTHONDONTWRITEBYTECODE, or every test process compiles them again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo demo-headless test check lint typecheck contracts pytest bench screenshots lock clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "rescind needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25,<27' 'uv==0.13.9' $(QUIET_PIP)

# constraints.txt pins every package (direct and transitive): a clean clone installs what CI
# last passed with, not whatever PyPI published this morning. uv installs them: it fetches
# in parallel and compiles nothing up front (pip spent minutes compiling all of msgraph-sdk,
# most of which no run imports), which keeps `make test` inside its 15 minutes.
PIP_INSTALL := $(BIN)/uv pip install --quiet --native-tls --python $(BIN)/python -c constraints.txt

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[exercise]' $(QUIET_PIP)
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]' $(QUIET_PIP)
	touch $@ $(VENV)/.installed-run

.demo/config/identity.json: | $(VENV)/.installed-run
	$(DEMO_ENV) $(BIN)/rescind keys init --name "Demo Responder" --email responder@example.com

# In a terminal the demo opens the app and the responder drives it; elsewhere
# (a pipe, CI) it plays the whole incident headless with every step approved.
demo: $(VENV)/.installed-run .demo/config/identity.json
	@if [ -t 0 ] && [ -t 1 ]; then $(DEMO_RUN); else $(DEMO_RUN) --auto-approve --no-tui; fi

demo-headless: $(VENV)/.installed-run .demo/config/identity.json
	$(DEMO_RUN) --auto-approve --no-tui

test: $(VENV)/.installed-dev ssh-keygen check pytest

ssh-keygen:
	@command -v ssh-keygen >/dev/null || { echo "installing openssh-client for the record tests"; \
		apt-get update -qq && apt-get install -y -qq openssh-client >/dev/null; }

.PHONY: ssh-keygen
check: lint typecheck contracts

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src

contracts: $(VENV)/.installed-dev
	$(BIN)/lint-imports

# Three workers on two cores: about a quarter of a worker's time is spent waiting on loopback
# peers and subprocesses, which a third worker fills.
pytest: $(VENV)/.installed-dev
	@$(BIN)/pytest -q -p no:cacheprovider -n 3 --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	exit $$rc

bench: $(VENV)/.installed-dev
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

screenshots: $(VENV)/.installed-dev
	$(BIN)/python scripts/screenshots.py

# Re-pin after a dependency change: install fresh from pyproject.toml's bounds, then freeze.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]' $(QUIET_PIP)
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
		| grep -v '^-e'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache
