"""Timecode directories: when one is complete, and the finalization file that says so.

A timecode is the first five digits of a UNIX time (one per 1e5 s, about 27.8 h). A timecode
dir of an archive is *completed* when the archive has a newer one or it is more than one
timecode old; *synced* when every file of the archive under it (ignored files aside) is
verified; then *finalized*: a YAML summary is written and registered for upload, and
downstream tools take its arrival to mean the timecode is complete on the archive side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

TIMECODE_SECONDS = 100_000
COMPLETE_AFTER_TIMECODES = 1


def timecode_at(t: float) -> int:
    return int(t // TIMECODE_SECONDS)


def is_completed(timecode: int, newest_timecode: int | None, now: float) -> bool:
    if newest_timecode is not None and newest_timecode > timecode:
        return True
    return timecode_at(now) - timecode > COMPLETE_AFTER_TIMECODES


def subdir_of(remote_path: str) -> str | None:
    """The folder right under the timecode (`17227/ufm_mv19/...` -> `ufm_mv19`), if any."""
    parts = remote_path.split("/")
    return parts[1] if len(parts) > 2 else None


@dataclass(frozen=True, kw_only=True)
class Finalization:
    local_path: str
    remote_path: str
    text: str


def finalization(
    *,
    timecode: int,
    archive_name: str,
    instance_id: str,
    num_files: int,
    subdirs: list[str],
    finalized_until: float,
    now: float,
    file_root: str,
) -> Finalization:
    """The YAML summary of a synced timecode dir, where it is written and where it goes.

    It is filed under the *current* timecode, so that it reaches the archive with today's
    files: `<file_root>/<tc_now>/<instance_id>/` locally, `<tc_now>/suprsync/<instance_id>/`
    remotely.
    """
    doc = {
        "timecode": timecode,
        "num_files": num_files,
        "subdirs": sorted(subdirs),
        "finalized_at": now,
        "finalized_until": finalized_until,
        "archive_name": archive_name,
        "instance_id": instance_id,
    }
    tc_now = str(timecode_at(now))
    name = f"{int(now)}_{archive_name}_{timecode}_finalized.yaml"
    return Finalization(
        local_path=os.path.join(file_root, tc_now, instance_id, name),
        remote_path="/".join((tc_now, "suprsync", instance_id, name)),
        text=yaml.safe_dump(doc, sort_keys=False),
    )
