"""SupRsync's command-line arguments (the old agent's, plus what SSH safety and retention
need), and the settings built from them. A bad value is an argparse error naming the
argument, before anything starts."""

from __future__ import annotations

import argparse

from socs_like.commands import add_ssh_arguments, ssh_settings_from_args
from socs_like_agents.filedb.schema import add_db_argument

from .commands import RsyncOptions, SshTarget
from .retention import RetentionPolicy, Rule, RuleError, parse_duration
from .sync import SyncSettings


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except RuleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _rule(text: str) -> Rule:
    try:
        return Rule.parse(text)
    except RuleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("SupRsync")
    g.add_argument(
        "--archive-name",
        required=True,
        help="The archive this instance copies (e.g. smurf, timestreams); it never "
        "touches files or timecode dirs of another archive.",
    )
    g.add_argument(
        "--remote-basedir",
        required=True,
        help="Base dir on the archive host (or locally, without --ssh-host) that "
        "remote paths are relative to. Over SSH it must exist; a local one is "
        "created.",
    )
    add_db_argument(g)
    g.add_argument(
        "--ssh-host",
        default=None,
        help="[user@]host to copy to over SSH; without it files are copied locally.",
    )
    g.add_argument("--ssh-port", type=int, default=None, help="SSH port (default: ssh's).")
    add_ssh_arguments(g)
    g.add_argument(
        "--delete-local-after",
        type=_duration,
        default=None,
        help="Delete a local file this long after its copy was verified (e.g. 7d); "
        "the remote copy is checked again first. Without it (and without "
        "--retention-rule) nothing is deleted.",
    )
    g.add_argument(
        "--retention-rule",
        type=_rule,
        action="append",
        default=[],
        metavar="PATTERN=AGE",
        help="Keep local files whose remote path matches the glob PATTERN for AGE "
        "after verification (AGE: 90s, 30m, 12h, 7d or 'never'); first match "
        "wins, others use --delete-local-after. Repeatable. Example for smurf: "
        "'*/plots/*=1d' '*.tune*=never'.",
    )
    g.add_argument(
        "--max-copy-attempts",
        type=_positive_int,
        default=5,
        help="Failed attempts after which a file is no longer tried (see the "
        "reset_failed task). Default 5.",
    )
    g.add_argument(
        "--copy-timeout",
        type=_duration,
        default=None,
        help="Kill an rsync running longer than this (default: no limit).",
    )
    g.add_argument(
        "--cmd-timeout",
        type=_duration,
        default=None,
        help="Kill a remote md5sum running longer than this (default: no limit).",
    )
    g.add_argument(
        "--files-per-batch",
        type=_positive_int,
        default=5000,
        help="Files per batch: one rsync and one remote md5sum each (default 5000; "
        "a weekend's backlog fits in one).",
    )
    g.add_argument(
        "--sleep-time",
        type=_duration,
        default=60.0,
        help="Pause between loop iterations (default 60 s).",
    )
    g.add_argument(
        "--compression", action="store_true", help="Compress data in transit (rsync -z)."
    )
    g.add_argument("--bwlimit", default=None, help="Bandwidth limit passed to rsync --bwlimit.")
    g.add_argument(
        "--suprsync-file-root",
        required=True,
        help="Local folder where this agent writes its timecode finalization files.",
    )
    g.add_argument(
        "--chmod",
        default="g+rwX,o+rX",
        help="Permissions applied on the archive side (rsync --chmod); '' keeps "
        "the source's. Default g+rwX,o+rX.",
    )
    g.add_argument(
        "--recheck-files-per-iteration",
        type=int,
        default=1000,
        help="Each iteration, compare this many local files (round robin) with what "
        "was registered; changed ones are re-hashed and sent again. 0: off.",
    )
    g.add_argument("--echo-sql", action="store_true", help="Log every SQL statement.")


def sync_settings(args: argparse.Namespace, instance_id: str) -> SyncSettings:
    """Settings from parsed arguments; `errors.SshTargetError` (or the shared settings'
    ValueError) names a bad SSH setting."""
    ssh = None
    if args.ssh_host:
        ssh = SshTarget(
            host=args.ssh_host, port=args.ssh_port, settings=ssh_settings_from_args(args)
        )
    return SyncSettings(
        archive_name=args.archive_name,
        instance_id=instance_id,
        remote_basedir=args.remote_basedir,
        file_root=args.suprsync_file_root,
        ssh=ssh,
        # rsync's own I/O timeout notices a stalled peer long before --copy-timeout would
        rsync=RsyncOptions(
            chmod=args.chmod or None,
            compression=args.compression,
            bwlimit=args.bwlimit,
            io_timeout=max(30.0, args.ssh_connect_timeout * 3),
        ),
        max_copy_attempts=args.max_copy_attempts,
        files_per_batch=args.files_per_batch,
        copy_timeout=args.copy_timeout,
        cmd_timeout=args.cmd_timeout,
        retention=RetentionPolicy(tuple(args.retention_rule), args.delete_local_after),
        recheck_per_iteration=args.recheck_files_per_iteration,
    )
