"""Crash recovery: rows a previous run registered but never checksummed, read in pages.

A row is durable as soon as it is inserted (``pending``); its md5 comes later. If the agent
was killed in between, the next start finds those rows and hashes them first. They are read
``page`` rows at a time (by ascending id, after the last one read) so a backlog of millions
never sits in memory at once, and only up to the highest pending id seen at start: rows above
it were registered by this run and are already on their way to the hash pool.
"""

from __future__ import annotations

from collections.abc import Sequence

from socs_like_agents.filedb.queries import Registered

PAGE = 5000


class RecoveryPager:
    def __init__(self, until: int, page: int = PAGE) -> None:
        if page < 1:
            raise ValueError("page must be >= 1")
        self.until = until
        self.page = page
        self.after = 0
        self.recovered = 0

    @property
    def done(self) -> bool:
        return self.after >= self.until

    def wants_page(self, backlog: int) -> bool:
        """Read another page now? Only while rows remain and the hash queue (``backlog``
        rows) has less than a page, so memory stays bounded."""
        return not self.done and backlog < self.page

    def accept(self, rows: Sequence[Registered]) -> list[Registered]:
        """The rows of a page read after :attr:`after` that belong to the recovery; advances."""
        mine = [r for r in rows if r.id <= self.until]
        if len(rows) == self.page and rows[-1].id < self.until:
            self.after = rows[-1].id
        else:
            self.after = self.until
        self.recovered += len(mine)
        return mine
