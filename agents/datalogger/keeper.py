"""The ``timeline`` process: keeps the timeline logger (:mod:`.timeline`, a process of its own)
running into ``--timeline-outdir``, restarting it with backoff whenever it exits. The session
data is :class:`.status.TimelineStatus`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from socs_like import OpSession
from socs_like.backoff import Backoff
from socs_like.commands import dies_with

from .errors import RequestError
from .status import TimelineStatus

# a logger that ran this long was healthy: its next restart waits the shortest delay again
HEALTHY_RUN = 60.0
POLL = 0.5  # seconds between looks at the logger (and at a stop request)


def timeline_command(url: str, outdir: Path, rotate: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "socs_like_agents.datalogger.timeline",
        "--url",
        url,
        "--outdir",
        str(outdir),
        "--rotate",
        str(rotate),
    ]


@dataclass
class TimelineKeeper:
    url: str  # --logger-url
    outdir: Path | None  # --timeline-outdir
    rotate: int  # --timeline-rotate

    async def run(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """timeline(): keep the timeline logger process running into --timeline-outdir,
        restarting it (with backoff) whenever it exits; restarts counted in session data."""
        if self.outdir is None:
            raise RequestError("no --timeline-outdir configured")
        command = timeline_command(self.url, self.outdir, self.rotate)
        session.set_status("running")
        backoff = Backoff(initial=0.5, cap=30.0)
        restarts = 0
        while not session.stop_requested:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                # killed with the agent: a restarted agent starts its own logger
                preexec_fn=dies_with(os.getpid()),
            )
            data = TimelineStatus(pid=proc.pid, restarts=restarts, outdir=str(self.outdir))
            session.data = data.as_dict()
            started = time.monotonic()
            waiter = asyncio.ensure_future(proc.wait())
            while not waiter.done():
                if await session.sleep(POLL):
                    proc.terminate()
                    await waiter
                    return True, f"timeline logger stopped after {restarts} restarts"
            code = waiter.result()
            restarts += 1
            session.add_message(f"timeline logger pid {proc.pid} exited with {code}; restarting")
            if time.monotonic() - started > HEALTHY_RUN:
                backoff.success()
            if await session.sleep(backoff.failure()):
                break
        return True, f"timeline logger stopped after {restarts} restarts"
