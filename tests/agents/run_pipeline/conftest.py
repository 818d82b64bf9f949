"""Shared pieces of the run pipeline tests: run folders on a "DAQ", the runs database, and
the command line that points a pipeline at them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from socs_like.db import Database
from socs_like.testing import md5_hex
from socs_like.testing.slurm import slurm  # noqa: F401  (the session-scoped fixture)
from socs_like_agents.run_pipeline.schema import open_db
from socs_like_agents.run_pipeline.store import NewRun, RunStore

CLI = [sys.executable, "-m", "socs_like_agents.run_pipeline.cli"]
KILLER = """
import importlib, os, signal, sys
from socs_like_agents.run_pipeline import cli
module, cls, method = sys.argv[1].split(".")
owner = getattr(importlib.import_module("socs_like_agents.run_pipeline." + module), cls)
setattr(owner, method, lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
sys.exit(cli.main(sys.argv[2:]))
"""


@dataclass
class Site:
    """A DAQ folder, a cluster work folder and a runs database under one tmp_path."""

    root: Path
    daq: Path = field(init=False)
    work: Path = field(init=False)
    db_path: Path = field(init=False)
    store: RunStore = field(init=False)

    def __post_init__(self) -> None:
        self.daq = self.root / "daq"
        self.work = self.root / "work"
        self.db_path = self.root / "runs.db"
        self.daq.mkdir()
        self.store = RunStore(open_db(str(self.db_path)), actor="test")

    def acquire(
        self,
        name: str,
        *,
        files: int = 3,
        size: int = 20_000,
        events: int = 1000,
        source: str = "physics",
        tags: frozenset[str] = frozenset(),
    ) -> dict[str, str]:
        """Write a run folder and insert its row; returns relative path -> md5."""
        folder = self.daq / name
        folder.mkdir()
        digests = {}
        for i in range(files):
            data = os.urandom(size)
            (folder / f"f{i}.dat").write_bytes(data)
            digests[f"f{i}.dat"] = md5_hex(data)
        self.store.add(
            [NewRun(name=name, raw_location=str(folder), events=events, source=source, tags=tags)]
        )
        return digests

    def args(self, *extra: str) -> list[str]:
        return [
            "--db-path",
            str(self.db_path),
            "--daq-root",
            str(self.daq),
            "--work-dir",
            str(self.work),
            *extra,
        ]

    def cli(
        self, *extra: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *self.args(*extra)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    def cli_killed_at(
        self, target: str, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``socs-like runs`` that kills itself with SIGKILL when it calls ``target``
        (``module.Class.method`` inside the run_pipeline package): a crash at a chosen point."""
        return subprocess.run(
            [sys.executable, "-c", KILLER, target, *self.args(*extra)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    def status(self, name: str) -> tuple[str, str]:
        return self.store.get(name).status

    def dump(self) -> list[tuple[object, ...]]:
        """Every row of both tables, to compare before and after."""
        con = sqlite3.connect(self.db_path)
        try:
            return [
                *con.execute("SELECT * FROM pipeline_runs ORDER BY name"),
                *con.execute("SELECT * FROM pipeline_run_events ORDER BY id"),
            ]
        finally:
            con.close()


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root``: relative path -> md5."""
    return {
        str(p.relative_to(root)): md5_hex(p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


@pytest.fixture
def make_db(tmp_path: Path) -> Callable[[str], Database]:
    def make(name: str = "runs.db") -> Database:
        return open_db(str(tmp_path / name))

    return make
