"""SupRsync's settings (socs_like.settings): the old agent's, plus what SSH safety and
retention need; :mod:`.config` builds the sync settings from them. A bad value is refused
naming the flag, before anything starts."""

from __future__ import annotations

import argparse

from socs_like.commands import SshOptions
from socs_like.settings import part, setting, settings
from socs_like_agents.filedb.schema import db_setting

from .retention import Rule, RuleError, parse_duration


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


@settings("SupRsync")
class Options:
    archive_name: str = setting(
        help="The archive this instance copies (e.g. smurf, timestreams); it never "
        "touches files or timecode dirs of another archive."
    )
    remote_basedir: str = setting(
        help="Base dir on the archive host (or locally, without --ssh-host) that "
        "remote paths are relative to. Over SSH it must exist; a local one is "
        "created."
    )
    db_path: str = db_setting()
    ssh_host: str | None = setting(
        default=None,
        help="[user@]host to copy to over SSH; without it files are copied locally.",
    )
    ssh_port: int | None = setting(default=None, help="SSH port (default: ssh's).")
    delete_local_after: float | None = setting(
        default=None,
        parse=_duration,
        help="Delete a local file this long after its copy was verified (e.g. 7d); "
        "the remote copy is checked again first. Without it (and without "
        "--retention-rule) nothing is deleted.",
    )
    retention_rule: tuple[Rule, ...] = setting(
        default=(),
        parse=_rule,
        metavar="PATTERN=AGE",
        help="Keep local files whose remote path matches the glob PATTERN for AGE "
        "after verification (AGE: 90s, 30m, 12h, 7d or 'never'); first match "
        "wins, others use --delete-local-after. Repeatable. Example for smurf: "
        "'*/plots/*=1d' '*.tune*=never'.",
    )
    max_copy_attempts: int = setting(
        default=5,
        parse=_positive_int,
        help="Failed attempts after which a file is no longer tried (see the "
        "reset_failed task). Default 5.",
    )
    copy_timeout: float | None = setting(
        default=None,
        parse=_duration,
        help="Kill an rsync running longer than this (default: no limit).",
    )
    cmd_timeout: float | None = setting(
        default=None,
        parse=_duration,
        help="Kill a remote md5sum running longer than this (default: no limit).",
    )
    files_per_batch: int = setting(
        default=5000,
        parse=_positive_int,
        help="Files per batch: one rsync and one remote md5sum each (default 5000; "
        "a weekend's backlog fits in one).",
    )
    sleep_time: float = setting(
        default=60.0, parse=_duration, help="Pause between loop iterations (default 60 s)."
    )
    compression: bool = setting(default=False, help="Compress data in transit (rsync -z).")
    bwlimit: str | None = setting(default=None, help="Bandwidth limit passed to rsync --bwlimit.")
    suprsync_file_root: str = setting(
        help="Local folder where this agent writes its timecode finalization files."
    )
    chmod: str = setting(
        default="g+rwX,o+rX",
        help="Permissions applied on the archive side (rsync --chmod); '' keeps "
        "the source's. Default g+rwX,o+rX.",
    )
    recheck_files_per_iteration: int = setting(
        default=1000,
        help="Each iteration, compare this many local files (round robin) with what "
        "was registered; changed ones are re-hashed and sent again. 0: off.",
    )
    echo_sql: bool = setting(default=False, help="Log every SQL statement.")
    ssh: SshOptions = part(default_factory=SshOptions)
