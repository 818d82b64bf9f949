"""The settings the agent and ``socs-like runs`` share (socs_like.settings: one declaration,
one reader), and the pipeline's `Settings` built from them."""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from socs_like.commands import SshOptions
from socs_like.db import db_path_setting
from socs_like.paths import Roots
from socs_like.settings import part, setting, settings

from .hosts import Host
from .jobs import Queues
from .schema import DB_ENV, DEFAULT_DB
from .settings import DEFAULT_PROCESS_COMMAND, Settings


@settings("hosts and areas")
class Areas:
    cluster: str = setting(default="localhost", help="cluster name, as locations show it")
    daq_host: str | None = setting(
        default=None, help="ssh alias of the DAQ machine (default: this machine)"
    )
    cluster_host: str | None = setting(
        default=None, help="ssh alias of the cluster's login node (default: this machine)"
    )
    daq_root: tuple[str, ...] = setting(
        default=(),
        metavar="DIR",
        help="folder on the DAQ where run folders may be (repeatable; a run elsewhere is refused)",
    )
    work_dir: str = setting(
        default="var/run-pipeline",
        help="on the cluster: the default parent of the raw, processed, jobs and compressed areas",
    )
    raw_area: str | None = setting(default=None, help="on the cluster (default WORK_DIR/raw)")
    processed_area: str | None = setting(
        default=None, help="on the cluster (default WORK_DIR/processed)"
    )
    jobs_area: str | None = setting(default=None, help="on the cluster (default WORK_DIR/jobs)")
    compressed_area: str | None = setting(
        default=None, help="on the cluster (default WORK_DIR/compressed)"
    )
    archive_target: str | None = setting(
        default=None,
        help="where bundles go: a folder, or host:folder reached over ssh from the cluster "
        "(default WORK_DIR/archive)",
    )


@settings("transfer")
class Transfer:
    transfer_mode: Literal["pull", "push"] = setting(
        default="pull",
        help="pull: rsync runs on the cluster side; push: on the DAQ (default pull)",
    )
    push_target: str = setting(
        default="", help="push: the raw area as the DAQ reaches it, e.g. cluster:/scratch/raw"
    )
    transfer_bwlimit: int = setting(
        default=0,
        metavar="KIB",
        help="rsync's --bwlimit for transfers, KiB/s, so a copy leaves the DAQ's network "
        "some room (default 0: no limit)",
    )
    remove_source: bool = setting(
        default=False, help="delete the run folder on the DAQ once its copy is verified"
    )
    daq_live_process: str | None = setting(
        default=None,
        metavar="NAME",
        help="while a process of this name runs on the DAQ, nothing is transferred",
    )
    max_transfer_time: float = setting(
        default=1800.0, metavar="S", help="a claim older than this is released (default 1800)"
    )
    max_transfer_attempts: int = setting(
        default=5,
        help="failed transfers (a host out of reach not counted) before a run waits for "
        "`retry` (default 5)",
    )


@settings("processing")
class Processing:
    backend: Literal["local", "slurm", "pbs"] = setting(
        default="local", help="where jobs run (default local)"
    )
    short_queue: str = setting(default="standby", help="queue/partition for short jobs")
    long_queue: str = setting(default="physics", help="queue/partition for long jobs")
    short_limit: int = setting(
        default=4 * 3600,
        metavar="S",
        help="longest walltime the short queue takes (default 14400)",
    )
    process_command: str = setting(
        default=DEFAULT_PROCESS_COMMAND,
        help="shell line processing one run; {raw} {out} {run} {events} {source} "
        "{python} are replaced, shell-quoted",
    )
    local_slots: int = setting(default=2, help="local jobs at once (default 2)")


@settings("archive")
class Archive:
    bundle_runs: int = setting(default=10, help="compressed runs per bundle (default 10)")
    bundle_bytes: int = setting(
        default=10 * 1024**3, help="bundle once runs of this many raw bytes wait (default 10 GiB)"
    )
    bundle_max_age: float = setting(
        default=3600.0,
        metavar="S",
        help="bundle anyway once the oldest waited this long (default 3600)",
    )
    archive_bwlimit: int = setting(
        default=0,
        metavar="KIB",
        help="rsync's --bwlimit for the copy to the archive target, KiB/s (default 0: no limit)",
    )
    batch: int = setting(default=200, help="runs per step and pass")


@settings("runs database")
class PipelineOptions:
    """What the agent and ``socs-like runs`` both take."""

    db_path: str = db_path_setting(default=DEFAULT_DB, env=DB_ENV, what="The runs database")
    areas: Areas = part(default_factory=Areas)
    transfer: Transfer = part(default_factory=Transfer)
    processing: Processing = part(default_factory=Processing)
    archive: Archive = part(default_factory=Archive)
    ssh: SshOptions = part(default_factory=SshOptions)


def period_setting(name: str, default: float) -> Any:
    return setting(
        default=default, metavar="S", help=f"seconds between {name} passes (default {default:g})"
    )


@settings("periods")
class Periods:
    transfer_period: float = period_setting("transfer", 30.0)
    process_period: float = period_setting("process", 30.0)
    archive_period: float = period_setting("archive", 60.0)
    monitor_period: float = setting(
        default=2.0, metavar="S", help="seconds between feed updates (default 2)"
    )


@settings("runs database")
class Options(PipelineOptions):
    """The agent's: the pipeline's, and how often each pass runs."""

    periods: Periods = part(default_factory=Periods)


def pipeline_settings(args: PipelineOptions) -> Settings:
    ssh = args.ssh.ssh_settings()
    areas, transfer, processing, archive = args.areas, args.transfer, args.processing, args.archive
    work = os.path.abspath(areas.work_dir)

    def area(name: str) -> str:
        given = getattr(areas, f"{name}_area")
        return os.path.abspath(given) if given else os.path.join(work, name)

    db = args.db_path if "://" in args.db_path else os.path.abspath(args.db_path)
    return Settings(
        cluster=areas.cluster,
        daq=Host(areas.daq_host, ssh),
        cluster_host=Host(areas.cluster_host, ssh),
        # a relative root is taken from here only when the DAQ is this machine
        daq_roots=Roots(
            [r if areas.daq_host else os.path.abspath(r) for r in areas.daq_root],
            option="--daq-root",
        ),
        raw_area=area("raw"),
        processed_area=area("processed"),
        jobs_dir=area("jobs"),
        compressed_area=area("compressed"),
        archive_target=areas.archive_target or os.path.join(work, "archive"),
        archive_bwlimit=archive.archive_bwlimit,
        transfer_mode=transfer.transfer_mode,
        push_target=transfer.push_target,
        transfer_bwlimit=transfer.transfer_bwlimit,
        remove_source=transfer.remove_source,
        daq_live_process=transfer.daq_live_process,
        max_transfer_time=transfer.max_transfer_time,
        max_transfer_attempts=transfer.max_transfer_attempts,
        backend=processing.backend,
        queues=Queues(
            short=processing.short_queue,
            long=processing.long_queue,
            short_limit=processing.short_limit,
        ),
        process_command=processing.process_command,
        local_slots=processing.local_slots,
        mark_argv=(sys.executable, "-m", "socs_like_agents.run_pipeline.mark", "--db-path", db),
        bundle_runs=archive.bundle_runs,
        bundle_bytes=archive.bundle_bytes,
        bundle_max_age=archive.bundle_max_age,
        batch=archive.batch,
    )
