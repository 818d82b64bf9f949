"""Find files that arrived while the monitor was down (``--rescan``), without touching the db.

Two kinds of folders are walked:

- g3 folders (``--g3-dir``): every ``*.g3`` file, archive ``timestreams``.
- pysmurf folders (``--smurf-dir``): files laid out as
  ``<dir>/<YYYYMMDD>/<publisher id>/<action_ts>/<plots|outputs>/<file>``, archive ``smurf``.
  The action's name is not on disk, so these land in ``<action_ts>_no_action``; the file
  timestamp is the leading digits of the file name (else its mtime).

Files modified less than ``min_age`` seconds ago are left for a later rescan: the writer may
still be at work (the streamer announces a g3 file only when it closes it). Symlinks and
anything that is not a regular file are skipped. Registering what this finds is idempotent:
already registered paths are skipped by the database layer.

A *targeted* rescan (after announcements of one publisher were lost, see :mod:`.lost`) passes
``publisher``: only that publisher's folders are taken (``<stream id>`` folders of the g3
dirs, ``<YYYYMMDD>/<publisher id>`` folders of the pysmurf dirs), and ``modified_before``
leaves out files changed after the loss was seen (they may still be being written; their own
announcement is still to come).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from socs_like_agents.pysmurf_monitor.datagrams import DataFile, Envelope, G3File
from socs_like_agents.pysmurf_monitor.lost import TargetedRescan
from socs_like_agents.pysmurf_monitor.metadata import stream_id

_LEADING_DIGITS = re.compile(r"^(\d{10})")


@dataclass(frozen=True, kw_only=True)
class RescanResult:
    found: list[DataFile | G3File]
    too_recent: int


def _regular_files(top: str) -> Iterator[tuple[str, os.stat_result]]:
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield os.path.normpath(path), st


def scan(
    g3_dirs: list[str],
    smurf_dirs: list[str],
    *,
    now: float,
    min_age: float,
    publisher: str | None = None,
    modified_before: float | None = None,
) -> RescanResult:
    found: list[DataFile | G3File] = []
    too_recent = 0
    newest = now - min_age
    if modified_before is not None:
        newest = min(newest, modified_before)
    stream = None if publisher is None else stream_id(publisher)
    for top in g3_dirs:
        env = Envelope(
            host="", id=publisher or "rescan", script="", time=None, seq_no=None, type="g3_file"
        )
        for path, st in _regular_files(top):
            if not path.endswith(".g3"):
                continue
            if stream is not None and os.path.basename(os.path.dirname(path)) != stream:
                continue
            if st.st_mtime > newest:
                too_recent += 1
                continue
            found.append(G3File(envelope=env, path=path, archive_name="timestreams"))
    for top in smurf_dirs:
        root = os.path.normpath(top)
        for path, st in _regular_files(root):
            parts = os.path.relpath(path, root).split(os.sep)
            if len(parts) != 5 or parts[3] not in ("plots", "outputs"):
                continue
            if publisher is not None and parts[1] != publisher:
                continue
            if st.st_mtime > newest:
                too_recent += 1
                continue
            _day, publisher, action_ts, kind, name = parts
            stamp = _LEADING_DIGITS.match(name)
            env = Envelope(
                host="", id=publisher, script="", time=None, seq_no=None, type="data_file"
            )
            found.append(
                DataFile(
                    envelope=env,
                    path=path,
                    file_type=None,
                    format=None,
                    timestamp=float(stamp.group(1)) if stamp else st.st_mtime,
                    action=None,
                    action_ts=action_ts,
                    plot=kind == "plots",
                    archive_name="smurf",
                )
            )
    return RescanResult(found=found, too_recent=too_recent)


def scan_target(target: TargetedRescan, now: float) -> RescanResult:
    """The targeted rescan after a loss: the publisher's folders, files older than the loss."""
    return scan(
        list(target.g3_dirs),
        list(target.smurf_dirs),
        now=now,
        min_age=0.0,
        publisher=target.publisher,
        modified_before=target.modified_before,
    )
