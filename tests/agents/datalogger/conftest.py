"""A real data-logger simulator process over HTTP, one per test session."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from socs_like.testing import free_port, wait_until

ERROR_DEVICE = "B:BROKEN"
SLOW_DEVICE = "B:SLOWPS"
TRICKLE_DEVICE = "B:TRICKL"  # its answer comes in pieces over TRICKLE_SECONDS
# Long enough that a grab is still on it after another CLI run (the killed-mid-grab tests)
# and that two 1 s timeouts, with a busy machine's HTTP and HDF5 work, end well within it;
# each killed-mid-grab test waits it out once more, when the window is grabbed again.
TRICKLE_SECONDS = 10.0
EMPTY_DEVICE = "B:NODATA"
FLAKY_DEVICE = "B:FLAKY1"  # fails its first request of the session only


@dataclass
class Simulator:
    url: str
    proc: subprocess.Popen[bytes]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/event?code=2&start=0&stop=10", timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def logger_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    port = free_port()
    log = tmp_path_factory.mktemp("datalogger-sim") / "sim.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "socs_like_agents.datalogger.simulator",
                "--port",
                str(port),
                "--error-device",
                ERROR_DEVICE,
                "--slow-device",
                SLOW_DEVICE,
                "--slow-seconds",
                "3",
                "--trickle-device",
                TRICKLE_DEVICE,
                "--trickle-seconds",
                str(TRICKLE_SECONDS),
                "--empty-device",
                EMPTY_DEVICE,
                "--flaky-device",
                FLAKY_DEVICE,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url) or proc.poll() is not None, 15, message="simulator up")
        assert proc.poll() is None, Path(log).read_text()
        yield Simulator(url=url, proc=proc)
    finally:
        proc.terminate()
        proc.wait(10)


def write_list(path: Path, *devices: str, node: str = "MLrn") -> Path:
    path.write_text("# node device\n" + "".join(f"{node} {d}\n" for d in devices))
    return path


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``socs-like grab ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "socs_like", "grab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
