"""What the FileRecorder puts in session data (typed: a reader can rely on it). Counts are
samples (one timestamp of one block) since ``record`` started. The README lists them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class RecorderStats:
    """``record``'s session data, renewed after each write round (every --flush-interval)."""

    file: str | None  # the file being written (None between files)
    files_opened: int  # files opened since record started
    written: int  # samples written and flushed
    pending: int  # samples waiting for the next round
    pending_bytes: int  # their size in memory, about
    max_queue_bytes: int  # the queue's bound (--max-queue-mb)
    dropped: int  # samples dropped because the queue was full (oldest first)
    dropped_by_feed: dict[str, int]  # the same, by feed address (only feeds that lost some)
    write_errors: int  # rounds that failed (then tried again in a new file)
    last_error: str | None  # the last write failure
    intake: dict[str, Any]  # recording.intake counters: events, duplicates, gaps (records)
    spool_errors: int  # events not written to the spool (disk full): in memory only
    spool_last_error: str | None  # why the last of them was not

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
