"""Typed shapes of everything SupRsync publishes: its feeds and the session data of its ops.

Each is a frozen dataclass; :meth:`as_dict` gives the JSON-ready form that goes on the wire
(``session.data`` or ``feed.publish``). The agent builds them from what the sync steps
return (``CopyReport(**report)``), so a step that returned another shape fails loudly there.
Times are UNIX seconds, counts are files unless said otherwise, totals run since the agent
started. The README lists them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast


class _Model:
    def as_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))  # every subclass is a dataclass


@dataclass(frozen=True, kw_only=True)
class CopyFailure(_Model):
    path: str  # local path
    reason: str


@dataclass(frozen=True, kw_only=True)
class CopyReport(_Model):
    """The last batch: one rsync and one remote md5sum."""

    start_time: float
    stop_time: float
    num_files: int  # files in the batch
    verified: int = 0  # remote md5 equal to the local one
    failed: int = 0  # charged one attempt (not sent, not arrived, different md5)
    unchecked: int = 0  # md5sum could not run, or rsync broke off: no attempt charged
    failures: list[CopyFailure] = field(default_factory=list)  # the first 20
    error: str | None = None  # rsync's or md5sum's failure, one line

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> CopyReport:
        failures = [CopyFailure(**f) for f in report.get("failures", [])]
        return cls(**{**report, "failures": failures})


@dataclass(frozen=True, kw_only=True)
class DeleteReport(_Model):
    """The last deletion pass."""

    deleted: int = 0  # local copies removed after the remote copy was checked again
    already_gone: int = 0  # local copies found missing (marked removed)
    requeued: int = 0  # remote copy bad, or local file changed: sent again


@dataclass(frozen=True, kw_only=True)
class RecheckReport(_Model):
    """A re-check of local files against what was registered."""

    checked: int = 0
    changed: int = 0  # re-hashed, sent again
    missing: int = 0  # local file gone (left to the deletion pass)


@dataclass(frozen=True, kw_only=True)
class ArchiveStats(_Model):
    """This archive in the database (indexed SQL aggregates)."""

    finalized_until: float  # every file registered before this time is verified or ignored
    num_files: int  # rows of this archive, all states
    uncopied_files: int  # pending, queued or unreadable, not ignored
    last_file_added: str  # local path ("" when none)
    last_file_copied: str  # local path of the newest verified copy ("" when none)


@dataclass(frozen=True, kw_only=True)
class TransferStats(_Model):
    """Totals since the agent started (``sync.Counters``)."""

    iterations: int
    copies: int  # files verified
    failed_copies: int  # attempts charged
    errors_timeout: int  # rsync or md5sum killed at --copy-timeout / --cmd-timeout
    errors_nonzero: int  # rsync or md5sum exited with a failure status
    errors_db: int  # loop steps that failed (database or other), see the session messages
    deleted: int
    already_gone: int
    remote_bad_before_delete: int
    requeued_changed: int
    finalized: int  # timecode dirs finalized


@dataclass(frozen=True, kw_only=True)
class DbStats(_Model):
    """This agent's transactions (``socs_like.db.DatabaseStats``)."""

    transactions: int
    lock_retries: int  # "database is locked" absorbed by a retry
    lock_failures: int  # ... that reached the agent after every retry


@dataclass(frozen=True, kw_only=True)
class RunSessionData(_Model):
    """``run``'s session data, updated every iteration."""

    activity: str  # idle, copying, deleting, rechecking, finalizing, counting
    timestamp: float | None = None  # end of the last iteration
    last_copy: CopyReport | None = None
    last_delete: DeleteReport | None = None
    last_recheck: RecheckReport | None = None
    finalized: list[str] = field(default_factory=list)  # remote paths, the last 20
    archive_stats: ArchiveStats | None = None
    counters: TransferStats | None = None
    db: DbStats | None = None


@dataclass(frozen=True, kw_only=True)
class StatsFeed(_Model):
    """One ``archive_stats`` or ``transfer_stats`` feed message (OCS block layout)."""

    block_name: str  # the archive name (archive_stats) or "transfer_stats"
    timestamp: float
    data: ArchiveStats | TransferStats


@dataclass(frozen=True, kw_only=True)
class ResetFailedData(_Model):
    reset: int  # files given a fresh attempt count


@dataclass(frozen=True, kw_only=True)
class MismatchedFile(_Model):
    id: int
    local_path: str
    remote_path: str
    local_md5sum: str | None
    remote_md5sum: str | None
    failed_copy_attempts: int
    copied: float | None  # last copy attempt
    ignore: bool


@dataclass(frozen=True, kw_only=True)
class ListMismatchedData(_Model):
    files: list[MismatchedFile]


@dataclass(frozen=True, kw_only=True)
class SetIgnoreData(_Model):
    changed: int  # rows whose ignore flag was set


@dataclass(frozen=True, kw_only=True)
class RecheckLocalData(RecheckReport):
    """``recheck_local``'s progress and result (totals over the whole archive)."""
