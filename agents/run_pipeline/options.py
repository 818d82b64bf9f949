"""The settings the agent and ``socs-like runs`` share: one set of flags, one reader."""

from __future__ import annotations

import argparse
import os
import sys

from socs_like.commands import add_ssh_arguments, ssh_settings_from_args
from socs_like.paths import Roots

from .hosts import Host
from .jobs import Queues
from .schema import add_db_argument
from .settings import DEFAULT_PROCESS_COMMAND, Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    g = parser.add_argument_group("hosts and areas")
    g.add_argument("--cluster", default="localhost", help="cluster name, as locations show it")
    g.add_argument("--daq-host", help="ssh alias of the DAQ machine (default: this machine)")
    g.add_argument(
        "--cluster-host", help="ssh alias of the cluster's login node (default: this machine)"
    )
    g.add_argument(
        "--daq-root",
        action="append",
        default=[],
        metavar="DIR",
        help="folder on the DAQ where run folders may be (repeatable; a run elsewhere is refused)",
    )
    g.add_argument(
        "--work-dir",
        default="var/run-pipeline",
        help="on the cluster: the default parent of the raw, processed, jobs and compressed areas",
    )
    for area in ("raw", "processed", "jobs", "compressed"):
        g.add_argument(f"--{area}-area", help=f"on the cluster (default WORK_DIR/{area})")
    g.add_argument(
        "--archive-target",
        help="where bundles go: a folder, or host:folder reached over ssh from the cluster "
        "(default WORK_DIR/archive)",
    )
    t = parser.add_argument_group("transfer")
    t.add_argument(
        "--transfer-mode",
        choices=("pull", "push"),
        default="pull",
        help="pull: rsync runs on the cluster side; push: on the DAQ (default pull)",
    )
    t.add_argument(
        "--push-target",
        default="",
        help="push: the raw area as the DAQ reaches it, e.g. cluster:/scratch/raw",
    )
    t.add_argument(
        "--transfer-bwlimit",
        type=int,
        default=0,
        metavar="KIB",
        help="rsync's --bwlimit for transfers, KiB/s, so a copy leaves the DAQ's network "
        "some room (default 0: no limit)",
    )
    t.add_argument(
        "--remove-source",
        action="store_true",
        help="delete the run folder on the DAQ once its copy is verified",
    )
    t.add_argument(
        "--daq-live-process",
        metavar="NAME",
        help="while a process of this name runs on the DAQ, nothing is transferred",
    )
    t.add_argument(
        "--max-transfer-time",
        type=float,
        default=1800.0,
        metavar="S",
        help="a claim older than this is released (default 1800)",
    )
    t.add_argument(
        "--max-transfer-attempts",
        type=int,
        default=5,
        help="failed transfers (a host out of reach not counted) before a run waits for "
        "`retry` (default 5)",
    )
    p = parser.add_argument_group("processing")
    p.add_argument(
        "--backend",
        choices=("local", "slurm", "pbs"),
        default="local",
        help="where jobs run (default local)",
    )
    p.add_argument("--short-queue", default="standby", help="queue/partition for short jobs")
    p.add_argument("--long-queue", default="physics", help="queue/partition for long jobs")
    p.add_argument(
        "--short-limit",
        type=int,
        default=4 * 3600,
        metavar="S",
        help="longest walltime the short queue takes (default 14400)",
    )
    p.add_argument(
        "--process-command",
        default=DEFAULT_PROCESS_COMMAND,
        help="shell line processing one run; {raw} {out} {run} {events} {source} "
        "{python} are replaced, shell-quoted",
    )
    p.add_argument("--local-slots", type=int, default=2, help="local jobs at once (default 2)")
    a = parser.add_argument_group("archive")
    a.add_argument(
        "--bundle-runs", type=int, default=10, help="compressed runs per bundle (default 10)"
    )
    a.add_argument(
        "--bundle-bytes",
        type=int,
        default=10 * 1024**3,
        help="bundle once runs of this many raw bytes wait (default 10 GiB)",
    )
    a.add_argument(
        "--bundle-max-age",
        type=float,
        default=3600.0,
        metavar="S",
        help="bundle anyway once the oldest waited this long (default 3600)",
    )
    a.add_argument(
        "--archive-bwlimit",
        type=int,
        default=0,
        metavar="KIB",
        help="rsync's --bwlimit for the copy to the archive target, KiB/s (default 0: no limit)",
    )
    a.add_argument("--batch", type=int, default=200, help="runs per step and pass")
    add_ssh_arguments(parser)


def settings(args: argparse.Namespace) -> Settings:
    ssh = ssh_settings_from_args(args)
    work = os.path.abspath(args.work_dir)

    def area(name: str) -> str:
        given = getattr(args, f"{name}_area")
        return os.path.abspath(given) if given else os.path.join(work, name)

    db = args.db_path if "://" in args.db_path else os.path.abspath(args.db_path)
    return Settings(
        cluster=args.cluster,
        daq=Host(args.daq_host, ssh),
        cluster_host=Host(args.cluster_host, ssh),
        # a relative root is taken from here only when the DAQ is this machine
        daq_roots=Roots(
            [r if args.daq_host else os.path.abspath(r) for r in args.daq_root],
            option="--daq-root",
        ),
        raw_area=area("raw"),
        processed_area=area("processed"),
        jobs_dir=area("jobs"),
        compressed_area=area("compressed"),
        archive_target=args.archive_target or os.path.join(work, "archive"),
        archive_bwlimit=args.archive_bwlimit,
        transfer_mode=args.transfer_mode,
        push_target=args.push_target,
        transfer_bwlimit=args.transfer_bwlimit,
        remove_source=args.remove_source,
        daq_live_process=args.daq_live_process,
        max_transfer_time=args.max_transfer_time,
        max_transfer_attempts=args.max_transfer_attempts,
        backend=args.backend,
        queues=Queues(short=args.short_queue, long=args.long_queue, short_limit=args.short_limit),
        process_command=args.process_command,
        local_slots=args.local_slots,
        mark_argv=(sys.executable, "-m", "socs_like_agents.run_pipeline.mark", "--db-path", db),
        bundle_runs=args.bundle_runs,
        bundle_bytes=args.bundle_bytes,
        bundle_max_age=args.bundle_max_age,
        batch=args.batch,
    )
