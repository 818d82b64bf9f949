"""Agent processes for tests, forked by the test process's launcher (`socs_like.launcher`),
as ``socs-like up`` starts a site's agents.

A plain ``python -m socs_like agent`` spends about half a CPU-second importing before it
serves; the suite starts some two hundred. Forked from the launcher, which has imported it
all once, an agent is callable for 0.03 s of CPU. `ForkedProcess` wraps the launcher's
child in the part of `subprocess.Popen` the tests use, so a test cannot tell the two apart
except by the CPU they cost. The launcher lives on the shared client loop (`run_sync`) and
ends with the test process; agents of another host (`socs_like.testing.netns`) are not
forked from it, since a fork stays in the launcher's network namespace.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping
from typing import IO, Any

from ..client import run_sync
from ..launcher import Process, spawn

SPAWN_TIMEOUT = 90.0  # the first spawn of a test process waits for the launcher's imports


class ForkedProcess:
    """``python -m socs_like *command``, forked, in the current folder and with `env`."""

    def __init__(self, command: list[str], stdout: IO[Any], env: Mapping[str, str]) -> None:
        self.args = command
        self._process: Process = run_sync(
            spawn(command, stdout, os.getcwd(), dict(env)), SPAWN_TIMEOUT
        )
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def poll(self) -> int | None:
        return self._process.returncode

    def wait(self, timeout: float | None = None) -> int:
        try:
            return run_sync(asyncio.wait_for(self._process.wait(), timeout))
        except TimeoutError:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0) from None

    def send_signal(self, sig: int) -> None:
        self._process.send_signal(sig)

    def terminate(self) -> None:
        self._process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self._process.kill()
