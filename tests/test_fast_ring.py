"""The fast ring (`-m 'not slow'`, tests/conftest.py) leaves out the tests on real services."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECT = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
QUERIES = "tests/agents/filedb/test_queries.py::test_a_removed_file_may_be_registered_again"
ON_THE_HUB = "tests/socs_like/test_wire.py::test_sigterm_stops_running_ops_and_exits_quickly"
ON_POSTGRES = f"{QUERIES}[postgresql]"
ON_SQLITE = f"{QUERIES}[sqlite]"
SANS_IO = "tests/socs_like/test_feed.py::test_plain_feed_events_carry_feed_info_and_sequence"
MARKED = "tests/socs_like/test_cli.py::test_up_runs_hub_and_agents_and_restarts_the_dead"


@pytest.mark.slow  # a pytest of its own: seconds
def test_tests_on_a_service_are_slow_and_sans_io_ones_are_not():
    # the hub through `run_agent`, PostgreSQL as a parameter, a hand mark; not SQLite, not pure
    done = subprocess.run(
        [*COLLECT, "-m", "slow", ON_THE_HUB, ON_POSTGRES, ON_SQLITE, SANS_IO, MARKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    slow = {line for line in done.stdout.splitlines() if "::" in line}
    assert slow == {ON_THE_HUB, ON_POSTGRES, MARKED}
