# The two commands: `make run` brings the site up, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-hub: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[hub]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[hub,test]'
	touch $@ $(VENV)/.installed-hub

venv: $(VENV)/.installed-test

run: $(VENV)/.installed-hub
	$(BIN)/socs-like up --site-config site-config.yaml

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
