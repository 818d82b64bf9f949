"""What a pipeline is given (`Settings`) and what each of its passes reports (`PassReport`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from socs_like.paths import Roots

from . import jobs
from .hosts import Host

DEFAULT_PROCESS_COMMAND = "{python} -m socs_like_agents.run_pipeline.process_run {raw} {out}"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where things are and how to move them (see the README for each option)."""

    cluster: str = "localhost"  # its name, as raw locations show it
    daq: Host
    cluster_host: Host
    daq_roots: Roots  # where run folders on the DAQ may be
    raw_area: str  # on the cluster: one folder per run lands here
    processed_area: str  # on the cluster: processing output, one folder per run
    jobs_dir: str  # on the cluster: job scripts and logs
    compressed_area: str  # on the cluster: <run>.tar.zst and bundles
    archive_target: str  # a folder, or host:folder, as the cluster sees it
    archive_bwlimit: int = 0  # rsync --bwlimit for the copy to the archive, KiB/s (0: none)
    transfer_mode: Literal["pull", "push"] = "pull"
    push_target: str = ""  # push: the raw area as the DAQ reaches it ("" = raw_area)
    transfer_bwlimit: int = 0  # rsync --bwlimit, KiB/s (0: none)
    remove_source: bool = False
    daq_live_process: str | None = None
    max_transfer_time: float = 1800.0
    max_transfer_attempts: int = 5
    rsync_timeout: float = 1500.0
    backend: Literal["local", "slurm", "pbs"] = "local"
    queues: jobs.Queues = field(default_factory=jobs.Queues)
    process_command: str = DEFAULT_PROCESS_COMMAND
    local_slots: int = 2
    mark_argv: tuple[str, ...] = ()  # `socs-like runs --db-path X mark`, for job scripts
    bundle_runs: int = 10
    bundle_bytes: int = 10 * 1024**3
    bundle_max_age: float = 3600.0
    batch: int = 200  # runs per step and pass
    command_timeout: float = 600.0


@dataclass
class PassReport:
    """What one pass did; the agent's session data shows the last of each kind."""

    kind: str
    started: float = field(default_factory=time.time)
    finished: float | None = None
    done: int = 0  # runs moved forward
    failed: int = 0  # runs whose step failed (they stay where they were, or go to failed)
    released: int = 0  # claims and jobs reset by recovery
    skipped: str = ""  # why the whole pass did nothing (DAQ live, ...)
    failures: list[str] = field(default_factory=list)  # "run: reason", the first 20

    def fail(self, name: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < 20:
            self.failures.append(f"{name}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))
