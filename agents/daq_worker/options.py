"""The DaqWorker's command-line arguments, and the typed settings built from them (no I/O).

A bad ``--monitor-interval`` is a ``ValueError`` at start-up: the agent refuses to start.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from socs_like.commands import SshSettings, add_ssh_arguments, ssh_settings_from_args

from .interface import CWD_METHODS, WorkerPrograms

MIN_MONITOR_INTERVAL = 0.1  # s; also the least a ``monitor(interval=...)`` call may ask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("DaqWorker options")
    group.add_argument(
        "--hosts",
        nargs="+",
        required=True,
        metavar="HOST",
        help="worker host names or ssh_config aliases",
    )
    group.add_argument(
        "--data-router-name",
        default="dataRouter",
        help="data router program name (default dataRouter)",
    )
    group.add_argument(
        "--ecc-server-name",
        default="getEccSoapServer",
        help="ECC server program name (default getEccSoapServer)",
    )
    group.add_argument(
        "--cwd-method",
        choices=CWD_METHODS,
        default="auto",
        help="how to find the router's directory: lsof (macOS), proc "
        "(Linux /proc), auto (/proc where it exists, else lsof; default)",
    )
    group.add_argument(
        "--file-root",
        action="append",
        dest="file_roots",
        metavar="DIR",
        help="worker directory that tail_file and backup_config_files may "
        "read or write (repeatable; default ~)",
    )
    group.add_argument(
        "--monitor-interval",
        type=float,
        default=10.0,
        help="seconds between monitor sweeps (default 10)",
    )
    group.add_argument(
        "--rename-concurrency",
        type=int,
        default=64,
        metavar="N",
        help="SFTP renames in flight while organizing a run (default 64)",
    )
    add_ssh_arguments(parser.add_argument_group("SSH options"))


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """What the arguments ask for: the workers (each once, in the order given), the monitor's
    interval (s), the programs to look for, the folders ``tail_file`` and
    ``backup_config_files`` may touch, and how to reach the hosts."""

    hosts: list[str]
    monitor_interval: float
    programs: WorkerPrograms
    file_roots: list[str]
    ssh: SshSettings

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> WorkerSettings:
        if args.monitor_interval < MIN_MONITOR_INTERVAL:
            raise ValueError(
                f"--monitor-interval must be >= {MIN_MONITOR_INTERVAL} s, "
                f"not {args.monitor_interval}"
            )
        return cls(
            hosts=list(dict.fromkeys(args.hosts)),
            monitor_interval=args.monitor_interval,
            programs=WorkerPrograms(
                data_router=args.data_router_name,
                ecc_server=args.ecc_server_name,
                cwd_method=args.cwd_method,
                rename_concurrency=args.rename_concurrency,
            ),
            file_roots=args.file_roots or ["~"],
            ssh=ssh_settings_from_args(args),
        )
