"""Run one external command (rsync, ssh, md5sum) with a deadline. Blocking: call it from a
worker thread.

The command gets its own process group, so a timeout kills rsync *and* the ssh it started,
instead of leaving an orphaned ssh holding the connection open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None when it was killed at the deadline
    stdout: bytes
    stderr: bytes

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def describe(self) -> str:
        """One line for logs and session data."""
        what = "timed out" if self.timed_out else f"exited with {self.returncode}"
        tail = self.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return f"{self.argv[0]} {what}" + (f": {' | '.join(tail)}" if tail else "")


def run_command(
    argv: list[str], *, stdin: bytes = b"", timeout: float | None = None, cwd: str | None = None
) -> CommandResult:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as e:
        return CommandResult(tuple(argv), 127, b"", f"cannot run {argv[0]}: {e}".encode())
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        return CommandResult(tuple(argv), proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return CommandResult(tuple(argv), None, out, err)
