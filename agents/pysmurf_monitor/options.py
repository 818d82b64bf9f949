"""The monitor's settings (socs_like.settings): the socs agent's, plus what losses, rescans
and the database need. A bad value is refused naming the flag, before anything starts; what
the agent builds from them is in :mod:`.config`."""

from __future__ import annotations

from socs_like.checksum import DEFAULT_READ_SIZE
from socs_like.settings import setting, settings
from socs_like_agents.filedb.schema import db_setting
from socs_like_agents.pysmurf_monitor.paths import DEFAULT_DATED_DIR, DEFAULT_KEEP


@settings("PysmurfMonitor options")
class Options:
    udp_port: int = setting(
        default=8200, help="UDP port the pysmurf publishers send to (default 8200)"
    )
    udp_host: str = setting(
        default="0.0.0.0", help="address to listen on (default 0.0.0.0, all interfaces)"
    )
    udp_rcvbuf: int = setting(
        default=8 * 1024 * 1024,
        help="socket receive buffer in bytes, to ride out bursts (default 8 MiB); what "
        "the kernel grants is logged at start",
    )
    db_path: str = db_setting()
    create_table: bool = setting(
        default=True,
        help="create or upgrade the tables at start (an old socs database is "
        "imported in place); --no-create-table expects them ready "
        "(default: create)",
    )
    echo_sql: bool = setting(default=False, help="log every SQL statement")
    test_mode: bool = setting(
        default=False,
        help="kept for compatibility with the socs agent: do not start 'run' at "
        "start-up; when started, 'run' ends once it has registered and checksummed at "
        "least one file",
    )
    local_root: tuple[str, ...] = setting(
        default=("/data",),
        metavar="DIR",
        help="announced files must live under one of these folders; repeat for "
        "several (default /data)",
    )
    deletable_dir: str = setting(
        default=DEFAULT_DATED_DIR,
        metavar="REGEX",
        help="a smurf-archive file may be deleted after copying only if its "
        f"path matches this (default {DEFAULT_DATED_DIR!r})",
    )
    keep_pattern: tuple[str, ...] = setting(
        default=DEFAULT_KEEP,
        metavar="REGEX",
        help="smurf-archive files whose name matches are never deleted; repeat "
        f"for several (default {' '.join(DEFAULT_KEEP)})",
    )
    batch_size: int = setting(
        default=2000, help="most announcements inserted in one transaction (default 2000)"
    )
    batch_interval: float = setting(
        default=0.1, help="seconds between inserts of the announcements received (default 0.1)"
    )
    max_queued: int = setting(
        default=200_000,
        help="announcements held in memory while the database is unavailable; "
        "more are dropped and counted (default 200000)",
    )
    checksum_workers: int = setting(default=2, help="threads computing md5 checksums (default 2)")
    read_size: int = setting(
        default=DEFAULT_READ_SIZE, help="bytes per read when checksumming (default 4 MiB)"
    )
    meta_buffer_time: float = setting(
        default=1.0, help="seconds of metadata batched into one feed message (default 1)"
    )
    stats_interval: float = setting(
        default=10.0, help="seconds between udp_stats feed messages (default 10)"
    )
    rescan: bool = setting(
        default=False,
        help="at start, and again once and twice --rescan-min-age has passed, register "
        "files in --g3-dir/--smurf-dir never announced",
    )
    g3_dir: tuple[str, ...] = setting(
        default=(),
        metavar="DIR",
        help="streamer output folder to rescan (archive timestreams); repeatable",
    )
    smurf_dir: tuple[str, ...] = setting(
        default=(),
        metavar="DIR",
        help="pysmurf output folder to rescan (archive smurf); repeatable",
    )
    rescan_min_age: float = setting(
        default=660.0,
        help="rescans skip files modified less than this many seconds ago, as "
        "they may still be written (default 660)",
    )
    rescan_interval: float = setting(
        default=0.0,
        help="with --rescan, rescan again every this many seconds (default 0: only at start)",
    )
    loss_rescan_delay: float = setting(
        default=2.0,
        help="seconds after announcements of a publisher are seen lost (seq_no gap, "
        "queue full, kernel drops) before its folders are rescanned, with or without "
        "--rescan (default 2)",
    )
