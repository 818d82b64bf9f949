"""Fixtures for the DAQ worker tests: a simulated worker (real dataRouter and getEccSoapServer
processes) reached through the real sshd fixture. Tests import nothing from here: they use the
fixtures, and ``socs_like.testing`` for waiting and for running asyncio code."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from socs_like.testing import wait_until
from socs_like_agents.daq_worker.interface import WorkerPrograms
from socs_like_agents.daq_worker.processes import parse_ps, pids_of


def running(program: str) -> list[int]:
    """Process ids of ``program`` on this machine, read as the agent reads them."""
    ps = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "comm="], capture_output=True, text=True)
    return pids_of(parse_ps(ps.stdout), program)


class SimulatedWorker:
    """``socs-like simulate daq-worker`` in a subprocess, and what a test needs to check.

    Its programs get names of their own (``dataRouter`` plus 5 hex digits, 15 characters;
    ``getEccSoap`` plus 6, 16 characters, which Linux cuts to 15 as it does
    ``getEccSoapServer``), so test runs sharing a machine never see each other's."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.router_name = f"dataRouter{secrets.token_hex(3)[:5]}"
        self.ecc_name = f"getEccSoap{secrets.token_hex(3)}"
        self.proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.router_name}.log"

    @staticmethod
    def running(program: str) -> list[int]:
        return running(program)

    def programs(self, **options) -> WorkerPrograms:
        return WorkerPrograms(data_router=self.router_name, ecc_server=self.ecc_name, **options)

    def start(self, files: int = 0, size: int = 100) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "socs_like",
                "simulate",
                "daq-worker",
                "--workdir",
                str(self.workdir),
                "--files",
                str(files),
                "--interval",
                "0",
                "--size",
                str(size),
                "--data-router-name",
                self.router_name,
                "--ecc-server-name",
                self.ecc_name,
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(
            lambda: running(self.router_name) and running(self.ecc_name),
            message="the simulated programs",
        )
        wait_until(lambda: len(self.graw_names()) >= files, message=f"{files} GRAW files")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        wait_until(lambda: not running(self.router_name), message="the data router to exit")

    def graw_names(self, directory: Path | None = None) -> list[str]:
        directory = directory or self.workdir
        return sorted(p.name for p in directory.glob("*.graw")) if directory.exists() else []

    def write_graw(self, count: int, prefix: str = "run") -> dict[str, bytes]:
        """Files as the router would leave them, each with its own content."""
        contents = {f"{prefix}_{i:05d}.graw": f"{prefix}-{i}".encode() for i in range(count)}
        for name, data in contents.items():
            (self.workdir / name).write_bytes(data)
        return contents


@pytest.fixture
def worker(tmp_path):
    sim = SimulatedWorker(tmp_path / "stage")
    sim.workdir.mkdir()
    yield sim
    sim.stop()


@pytest.fixture
def home_tmp():
    """A directory under the login user's home, to test ``~`` paths."""
    path = Path(tempfile.mkdtemp(prefix=".socs-like-test-", dir=os.path.expanduser("~")))
    yield path
    shutil.rmtree(path, ignore_errors=True)
