# The two commands: `make run` brings the site up, `make test` runs the tests.
# Both install what they need: system packages (as root on Debian/Ubuntu, else they name
# them), then a virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# setuptools notes "Editable installation." at each editable install of a layout like ours
# (agents/ installs as socs_like_agents); it asks nothing of the user, so it is not shown.
PIP_INSTALL := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet
# `make test` runs the suite on this many pytest-xdist workers (0: one process). Most tests
# wait on real processes, so 4 workers keep CI's 2 cores busy (8 min; 2 workers left them a
# third idle: 9.5 min). Each worker starts the session's services (hub, PostgreSQL, InfluxDB, Slurm) of its
# own, on free ports, in folders of its own; tests that must not run beside each other (one
# machine-wide resource) share an `xdist_group` mark, which `--dist loadgroup` keeps on one
# worker. `make soak` runs in one process.
TEST_WORKERS ?= 4

.PHONY: run test test-fast soak lint bench venv system clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-hub: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[hub]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[hub,test,lint]'
	touch $@ $(VENV)/.installed-hub

system:
	@bash .ci/system-packages.sh

venv: $(VENV)/.installed-test

run: system $(VENV)/.installed-hub
	$(BIN)/socs-like up --site-config site-config.yaml

test: system $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The fast ring, under 90 s on two cores: the tests that need no real service
# (tests/conftest.py marks the others `slow`).
test-fast: system $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -m 'not slow' $(PYTEST_ARGS)

# mypy reads the agents under the name they install as (socs_like_agents), through a link.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p .lint && ln -sfn ../agents .lint/socs_like_agents
	MYPYPATH=.lint $(BIN)/mypy -p socs_like -p socs_like_agents

# The whole site through a compressed fault campaign and its ledger (tests/bench/test_soak.py;
# about 8 minutes, as root).
soak: system $(VENV)/.installed-test
	$(BIN)/python -m pytest -m soak $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .lint .pytest_cache .hypothesis
