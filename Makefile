# The targets CI and the README use. Each one installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime only: what `make serve` needs.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Runtime plus test, lint and type-check tools.
$(VENV)/.dev: pyproject.toml sdk/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]' -e ./sdk
	touch $@ $(VENV)/.runtime

serve: $(VENV)/.runtime
	$(BIN)/flokit serve

lint: $(VENV)/.dev
	$(BIN)/ruff check src sdk tests bench
	$(BIN)/ruff format --check src sdk tests bench
	$(BIN)/mypy

# The import page is tested in Debian's chromium, driven by Playwright (no browser downloads).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: lint /usr/bin/chromium
	$(BIN)/pytest

bench: $(VENV)/.dev
	cd bench && ../$(BIN)/python ingest.py
	cd bench && ../$(BIN)/python peer.py
	cd bench && ../$(BIN)/python retries.py
	cd bench && ../$(BIN)/python crash.py
	cd bench && ../$(BIN)/python imports.py
	cd bench && ../$(BIN)/python sdk.py
	cd bench && ../$(BIN)/python drivers.py
	cd bench && ../$(BIN)/python postgres.py
	cd bench && ../$(BIN)/python identity.py
	cd bench && ../$(BIN)/python headroom.py
	cd bench && ../$(BIN)/python integrations.py
	cd bench && ../$(BIN)/python reports.py

clean:
	rm -rf $(VENV) bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis
