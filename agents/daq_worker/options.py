"""The DaqWorker's settings (socs_like.settings): the command line, ``--help``, the site
config's check and get_api come from this one declaration. Cheap to import (no SSH).

A bad ``--monitor-interval`` is refused like any bad argument: the agent does not start.
"""

from __future__ import annotations

from typing import Literal

from socs_like.commands import SshOptions
from socs_like.settings import part, setting, settings

MIN_MONITOR_INTERVAL = 0.1  # s; also the least a ``monitor(interval=...)`` call may ask
CwdMethod = Literal["auto", "lsof", "proc"]


@settings("DaqWorker options")
class Options:
    hosts: tuple[str, ...] = setting(
        nargs="+", metavar="HOST", help="worker host names or ssh_config aliases"
    )
    data_router_name: str = setting(
        default="dataRouter", help="data router program name (default dataRouter)"
    )
    ecc_server_name: str = setting(
        default="getEccSoapServer", help="ECC server program name (default getEccSoapServer)"
    )
    cwd_method: CwdMethod = setting(
        default="auto",
        help="how to find the router's directory: lsof (macOS), proc "
        "(Linux /proc), auto (/proc where it exists, else lsof; default)",
    )
    file_roots: tuple[str, ...] = setting(
        default=("~",),
        flag="--file-root",
        metavar="DIR",
        help="worker directory that tail_file and backup_config_files may "
        "read or write (repeatable; default ~)",
    )
    monitor_interval: float = setting(
        default=10.0, help="seconds between monitor sweeps (default 10)"
    )
    rename_concurrency: int = setting(
        default=64, metavar="N", help="SFTP renames in flight while organizing a run (default 64)"
    )
    ssh: SshOptions = part(default_factory=SshOptions)

    def __post_init__(self) -> None:
        if self.monitor_interval < MIN_MONITOR_INTERVAL:
            raise ValueError(
                f"--monitor-interval must be >= {MIN_MONITOR_INTERVAL} s, "
                f"not {self.monitor_interval}"
            )
