"""One spelling and one default of the database argument across every agent and command that
opens the file database."""

import os
import subprocess
import sys

import pytest

from socs_like_agents.filedb.schema import DB_ENV, DEFAULT_DB

SUPRSYNC_REQUIRED = ["--archive-name", "a", "--remote-basedir", "/r", "--suprsync-file-root", "/f"]

# Each parses its arguments in a fresh interpreter: importing an agent module inside pytest
# is not possible yet (the client picks the asyncio reactor at import).
PARSERS = {
    "PysmurfMonitor": (
        "from socs_like_agents.pysmurf_monitor.agent import PysmurfMonitor as A\n"
        "p = argparse.ArgumentParser(); A.add_arguments(p)",
        [],
    ),
    "SupRsync": (
        "from socs_like_agents.suprsync.agent import SupRsync as A\n"
        "p = argparse.ArgumentParser(); A.add_arguments(p)",
        SUPRSYNC_REQUIRED,
    ),
    "socs-like db": (
        "from socs_like_agents.filedb.db_cli import _parser\np = _parser()",
        ["current"],
    ),
    "socs-like suprsync": (
        "from socs_like_agents.filedb.suprsync_cli import _parser\np = _parser()",
        ["list", "a"],
    ),
}


def db_path(name: str, argv: list[str], env: dict[str, str]) -> str:
    setup, required = PARSERS[name]
    return db_path_raw(setup, [*required, *argv], env)


def db_path_raw(setup: str, argv: list[str], env: dict[str, str]) -> str:
    code = f"import argparse, sys\n{setup}\nprint(p.parse_args(sys.argv[1:]).db_path)"
    out = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("name", list(PARSERS))
def test_db_path_default_and_spelling(name) -> None:
    env = {k: v for k, v in os.environ.items() if k != DB_ENV}
    assert db_path(name, [], env) == DEFAULT_DB
    assert db_path(name, ["--db-path", "postgresql://u@h/d"], env) == "postgresql://u@h/d"
    if name.startswith("socs-like"):  # before the subcommand too
        setup, required = PARSERS[name]
        before = ["--db-path", "/before.db", *required]
        assert db_path_raw(setup, before, env) == "/before.db"
    # the environment variable moves the default of every one of them
    assert db_path(name, [], env | {DB_ENV: "/site/files.db"}) == "/site/files.db"
