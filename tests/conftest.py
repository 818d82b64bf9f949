"""Settings for the whole suite (the fixtures come from the socs_like.testing plugin)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

# Derandomized and without an example database, so a run's examples do not depend on
# earlier runs (or on other runs sharing this tree); each test sets its own max_examples.
settings.register_profile("suite", derandomize=True, database=None, deadline=None)
settings.load_profile("suite")

# The fast ring is `-m 'not slow'` (`make test-fast`). A test is `slow` when it needs a real
# service: it is marked here from the fixtures it uses (directly or through another fixture), or
# when it takes PostgreSQL as a parameter; a test that starts a service itself (crossbar,
# `socs-like up`, a pipeline pass, a pytest) and takes seconds carries `@pytest.mark.slow`.
# New service fixtures join this set; tests/test_fast_ring.py checks the rule.
SERVICE_FIXTURES = frozenset(
    {
        # socs_like.testing: crossbar, sshd, PostgreSQL, InfluxDB, Slurm, namespaces, Chromium
        "hub",
        "legacy_hub",
        "private_hub",
        "make_sshd",
        "postgres_server",
        "influxdb_server",
        "slurm",
        "network",
        "browser",
        # test folders' own: a hub, network namespaces, simulator processes
        "guarded_hub",
        "hosts",
        "logger_sim",
        "guiserver",
        "worker",
    }
)


def _needs_a_service(item: pytest.Item) -> bool:
    """Whether `item` uses a fixture of SERVICE_FIXTURES or runs against PostgreSQL."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return not SERVICE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())) or any(
        isinstance(value, str) and value == "postgresql" for value in params
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_a_service(item):
            item.add_marker(pytest.mark.slow)


def _secret_values(node: Any, key: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _secret_values(v, str(k))
    elif isinstance(node, str) and key in ("agent-key", "secret", "agents-value"):
        yield node
    if key == "agents" and isinstance(node, dict):
        for value in node.values():
            yield from _secret_values(value, "agents-value")


def secrets_in_logs(folder: Path) -> list[str]:
    """Each log under `folder` that holds a secret of a secrets file under `folder`."""
    values: set[str] = set()
    for path in folder.rglob("*secrets*.yaml"):
        try:
            values.update(_secret_values(yaml.safe_load(path.read_text())))
        except (OSError, yaml.YAMLError):
            continue  # tests write broken secrets files on purpose
    values = {v for v in values if len(v) >= 16}  # short ones are made-up test values
    found = []
    for log in folder.rglob("*.log"):
        text = log.read_text(errors="replace")
        found += [f"{log}" for value in values if value in text][:1]
    return found


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Once every test has run: no log any test wrote holds a secret any test made.

    `test_no_secret_in_any_log_get_api_or_feed` looks closely at one agent; this looks at
    everything the session logged (hubs, agents, `socs-like up` children, the dashboard)."""
    yield
    found = secrets_in_logs(tmp_path_factory.getbasetemp())
    assert not found, f"a secret appears in {len(found)} log(s): {found[:5]}"
