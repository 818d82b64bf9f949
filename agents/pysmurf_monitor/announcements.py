"""The bounded queue of announced files waiting to be inserted into the database.

Announcements are appended as they arrive and written in batches of at most ``batch_size``
(one short transaction each). The queue holds at most ``max_queued`` rows: while the database
is away it grows, and past that bound :meth:`AnnouncementQueue.offer` refuses (the caller
counts the refusal as ``queue_full`` and asks for a rescan, so the file is found later). A
batch leaves the queue only once :meth:`AnnouncementQueue.written` confirms it was stored.

Files found by a rescan are offered with ``bounded=False``: they are in memory already (the
scan's result), and rescans run only while the database accepts writes, so the queue drains
at once. Bounding them would refuse the same files at every rescan and never progress.
"""

from __future__ import annotations

from socs_like_agents.filedb.queries import NewFile


class AnnouncementQueue:
    def __init__(self, max_queued: int, batch_size: int) -> None:
        if max_queued < 1 or batch_size < 1:
            raise ValueError("max_queued and batch_size must be >= 1")
        self.max_queued = max_queued
        self.batch_size = batch_size
        self._rows: list[NewFile] = []

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def room(self) -> int:
        return self.max_queued - len(self._rows)

    @property
    def batch_ready(self) -> bool:
        """A full batch waits: worth writing before the next interval."""
        return len(self._rows) >= self.batch_size

    def offer(self, row: NewFile, *, bounded: bool = True) -> bool:
        """Queue ``row``; False (and nothing queued) when the queue is full."""
        if bounded and len(self._rows) >= self.max_queued:
            return False
        self._rows.append(row)
        return True

    def batch(self) -> list[NewFile]:
        """The next rows to write (the oldest first), still queued until :meth:`written`."""
        return self._rows[: self.batch_size]

    def written(self, count: int) -> None:
        """The first ``count`` rows are stored: drop them."""
        del self._rows[:count]
