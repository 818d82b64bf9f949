"""From a file announcement to the row that registers it, without I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from socs_like.paths import Roots
from socs_like_agents.filedb.queries import NewFile
from socs_like_agents.pysmurf_monitor.datagrams import DataFile, G3File
from socs_like_agents.pysmurf_monitor.paths import (
    DeletabilityRules,
    check_component,
    check_local_path,
    smurf_remote_path,
    timestream_remote_path,
)


@dataclass(frozen=True, kw_only=True)
class RegistrationRules:
    local_roots: Roots
    deletability: DeletabilityRules = field(default_factory=DeletabilityRules)


def new_file(announcement: DataFile | G3File, rules: RegistrationRules, now: float) -> NewFile:
    """The row for an announced file. Raises :class:`~.errors.PathRejected` when a path would
    leave the archive or the configured local roots, or the timestamp makes no timecode."""
    local_path = check_local_path(announcement.path, rules.local_roots)
    archive = check_component(announcement.archive_name, "archive name")
    if isinstance(announcement, G3File):
        remote = timestream_remote_path(local_path)
    else:
        # a file without a timestamp is dated by the datagram, then by its arrival
        timestamp = announcement.timestamp or announcement.envelope.time or now
        remote = smurf_remote_path(
            local_path=local_path,
            publisher_id=announcement.envelope.id,
            timestamp=timestamp,
            action=announcement.action,
            action_ts=announcement.action_ts,
            plot=announcement.plot,
        )
    return NewFile(
        local_path=local_path,
        archive_name=archive,
        remote_path=remote,
        timestamp=now,
        deletable=rules.deletability.deletable(archive, local_path),
    )
