"""A recorder's queue of data waiting to be written (to InfluxDB, to a file), bounded in bytes,
without I/O.

What waits is a sequence of *chunks*, each what the recorder kept of one event or block (the
InfluxPublisher's: its points as line protocol; the FileRecorder's: a `Block`), which say how
many points they hold, their size in memory (``nbytes``) and when they were received. `take`
hands out a batch of whole chunks, oldest first, of at most ``max_points`` points (or the
oldest chunk alone when it holds more); a batch that could not be written goes back with
`put_back` to where it was taken from, so order is kept across an outage even when several
batches were out at once and come back in any order.

The queue holds at most ``max_bytes`` (batches out being written are not counted until they
come back): past that the oldest chunks are dropped and their points counted (``dropped``,
and by feed in ``dropped_by_feed``), the same policy as a feed's own buffer, so what is
written after a long outage is the most recent data and the hole is at the start of the
outage, where the counter says it is.

Cost, so that a queue holding an hour of data never holds up the recorder's event loop: a
chunk is a few Python objects however many points it holds; `add`, `take` and dropping cost
O(1) per chunk; `put_back` costs O(chunks of the batch + chunks of batches put back ahead of
it), never the length of the queue.

``lag`` is how long the oldest waiting point has waited (s since the recorder received it):
0 when the queue is empty, growing while the destination is away or slower than the feeds.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

MIB = 1024 * 1024


class Chunk(Protocol):
    @property
    def feed(self) -> str: ...  # the address of the feed it came from

    @property
    def points(self) -> int: ...

    @property
    def nbytes(self) -> int: ...

    @property
    def received(self) -> float: ...


C = TypeVar("C", bound=Chunk)


@dataclass(frozen=True)
class Batch(Generic[C]):
    chunks: list[C] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # each chunk's arrival number
    points: int = 0


class Backlog(Generic[C]):
    """Chunks waiting to be written, bounded in bytes; counts the points it drops."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_bytes = max_bytes
        self.pending = 0  # points waiting
        self.pending_bytes = 0
        self.dropped = 0  # points
        self.dropped_by_feed: dict[str, int] = {}  # the same, by feed address
        self._chunks: deque[tuple[int, C]] = deque()  # (arrival number, chunk), in order
        self._arrivals = itertools.count()

    def add(self, chunk: C) -> None:
        self._chunks.append((next(self._arrivals), chunk))
        self.pending += chunk.points
        self.pending_bytes += chunk.nbytes
        self._trim()

    def take(self, max_points: int) -> Batch[C]:
        """The oldest chunks, of at most `max_points` points together unless the first alone
        holds more (an empty batch when none wait)."""
        chunks: list[C] = []
        places: list[int] = []
        points = 0
        while self._chunks and (not chunks or points + self._chunks[0][1].points <= max_points):
            place, chunk = self._chunks.popleft()
            chunks.append(chunk)
            places.append(place)
            points += chunk.points
            self.pending_bytes -= chunk.nbytes
        self.pending -= points
        return Batch(chunks, places, points)

    def put_back(self, batch: Batch[C]) -> None:
        """Return a batch that was not written to where it was taken from."""
        if not batch.chunks:
            return
        # Batches are runs of consecutive chunks: this one goes after those put back ahead of
        # it that are older, which are the only chunks in front of its place.
        at = 0
        for place, _ in self._chunks:
            if place > batch.places[0]:
                break
            at += 1
        self._chunks.rotate(-at)
        self._chunks.extendleft(reversed(list(zip(batch.places, batch.chunks, strict=True))))
        self._chunks.rotate(at)
        self.pending += batch.points
        self.pending_bytes += sum(c.nbytes for c in batch.chunks)
        self._trim()

    def oldest(self) -> C | None:
        """The oldest chunk waiting (batches out being written are not waiting)."""
        return self._chunks[0][1] if self._chunks else None

    def lag(self, now: float) -> float:
        return max(0.0, now - self._chunks[0][1].received) if self._chunks else 0.0

    def _trim(self) -> None:
        while self.pending_bytes > self.max_bytes and self._chunks:
            _, oldest = self._chunks.popleft()
            self.pending -= oldest.points
            self.pending_bytes -= oldest.nbytes
            self.dropped += oldest.points
            feed = oldest.feed
            self.dropped_by_feed[feed] = self.dropped_by_feed.get(feed, 0) + oldest.points
