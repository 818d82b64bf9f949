"""The monitor's command-line arguments (the socs agent's, plus what losses, rescans and the
database need), and the parts built from them. A bad value is an argparse error naming the
argument, before anything starts."""

from __future__ import annotations

import argparse
import os

from socs_like.checksum import DEFAULT_READ_SIZE
from socs_like.paths import Roots
from socs_like_agents.filedb.schema import add_db_argument
from socs_like_agents.pysmurf_monitor.lost import LossRecovery, normalised
from socs_like_agents.pysmurf_monitor.paths import (
    DEFAULT_DATED_DIR,
    DEFAULT_KEEP,
    DeletabilityRules,
)
from socs_like_agents.pysmurf_monitor.registration import RegistrationRules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("PysmurfMonitor options")
    g.add_argument(
        "--udp-port",
        type=int,
        default=8200,
        help="UDP port the pysmurf publishers send to (default 8200)",
    )
    g.add_argument(
        "--udp-host",
        default="0.0.0.0",
        help="address to listen on (default 0.0.0.0, all interfaces)",
    )
    g.add_argument(
        "--udp-rcvbuf",
        type=int,
        default=8 * 1024 * 1024,
        help="socket receive buffer in bytes, to ride out bursts (default 8 MiB); what "
        "the kernel grants is logged at start",
    )
    add_db_argument(g)
    g.add_argument(
        "--create-table",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create or upgrade the tables at start (an old socs database is "
        "imported in place); --no-create-table expects them ready "
        "(default: create)",
    )
    g.add_argument("--echo-sql", action="store_true", help="log every SQL statement")
    g.add_argument(
        "--test-mode",
        action="store_true",
        help="kept for compatibility with the socs agent: do not start 'run' at "
        "start-up; when started, 'run' ends once it has registered and checksummed at "
        "least one file",
    )
    g.add_argument(
        "--local-root",
        action="append",
        default=None,
        metavar="DIR",
        help="announced files must live under one of these folders; repeat for "
        "several (default /data)",
    )
    g.add_argument(
        "--deletable-dir",
        default=DEFAULT_DATED_DIR,
        metavar="REGEX",
        help="a smurf-archive file may be deleted after copying only if its "
        f"path matches this (default {DEFAULT_DATED_DIR!r})",
    )
    g.add_argument(
        "--keep-pattern",
        action="append",
        default=None,
        metavar="REGEX",
        help="smurf-archive files whose name matches are never deleted; repeat "
        f"for several (default {' '.join(DEFAULT_KEEP)})",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=2000,
        help="most announcements inserted in one transaction (default 2000)",
    )
    g.add_argument(
        "--batch-interval",
        type=float,
        default=0.1,
        help="seconds between inserts of the announcements received (default 0.1)",
    )
    g.add_argument(
        "--max-queued",
        type=int,
        default=200_000,
        help="announcements held in memory while the database is unavailable; "
        "more are dropped and counted (default 200000)",
    )
    g.add_argument(
        "--checksum-workers",
        type=int,
        default=2,
        help="threads computing md5 checksums (default 2)",
    )
    g.add_argument(
        "--read-size",
        type=int,
        default=DEFAULT_READ_SIZE,
        help="bytes per read when checksumming (default 4 MiB)",
    )
    g.add_argument(
        "--meta-buffer-time",
        type=float,
        default=1.0,
        help="seconds of metadata batched into one feed message (default 1)",
    )
    g.add_argument(
        "--stats-interval",
        type=float,
        default=10.0,
        help="seconds between udp_stats feed messages (default 10)",
    )
    g.add_argument(
        "--rescan",
        action="store_true",
        help="at start, and again once and twice --rescan-min-age has passed, register "
        "files in --g3-dir/--smurf-dir never announced",
    )
    g.add_argument(
        "--g3-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="streamer output folder to rescan (archive timestreams); repeatable",
    )
    g.add_argument(
        "--smurf-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="pysmurf output folder to rescan (archive smurf); repeatable",
    )
    g.add_argument(
        "--rescan-min-age",
        type=float,
        default=660.0,
        help="rescans skip files modified less than this many seconds ago, as "
        "they may still be written (default 660)",
    )
    g.add_argument(
        "--rescan-interval",
        type=float,
        default=0.0,
        help="with --rescan, rescan again every this many seconds (default 0: only at start)",
    )
    g.add_argument(
        "--loss-rescan-delay",
        type=float,
        default=2.0,
        help="seconds after announcements of a publisher are seen lost (seq_no gap, "
        "queue full, kernel drops) before its folders are rescanned, with or without "
        "--rescan (default 2)",
    )


def registration_rules(args: argparse.Namespace) -> RegistrationRules:
    return RegistrationRules(
        # relative folders (handy in a site config) are taken from the working directory
        local_roots=Roots(
            (os.path.abspath(r) for r in args.local_root or ["/data"]), option="--local-root"
        ),
        deletability=DeletabilityRules(
            dated_dir=args.deletable_dir,
            keep=tuple(args.keep_pattern if args.keep_pattern is not None else DEFAULT_KEEP),
        ),
    )


def loss_recovery(args: argparse.Namespace) -> LossRecovery:
    return LossRecovery(
        g3_dirs=normalised(args.g3_dir),
        smurf_dirs=normalised(args.smurf_dir),
        delay=args.loss_rescan_delay,
    )
