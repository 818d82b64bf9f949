"""A recorder's bounded queue of samples waiting to be written (to InfluxDB, to a file),
without I/O.

A point is one timestamp of one block. Blocks go in as they arrive; `take` hands out a batch
of at most ``batch_size`` points (splitting a block when it must), oldest first; a batch that
could not be written goes back with `put_back` to the place it was taken from, so order is
kept across an outage even when several batches were out at once and come back in any
order. The queue holds at most ``max_points`` points: past that the oldest are dropped and
counted (``dropped``), the same policy as a feed's own buffer, so what is written after a
long outage is the most recent data and the hole is at the start of the outage, where the
counter says it is.

``lag`` is how long the oldest waiting point has waited (s since the recorder received it):
0 when the queue is empty, growing while the destination is away or slower than the feeds.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field, replace

from socs_like_agents.recording.intake import Block


@dataclass(frozen=True)
class Batch:
    blocks: list[Block]
    # each block's place: (arrival number, offset of its first point in the block that
    # arrived), so that `put_back` can return it where it was, even a part of a split block
    places: list[tuple[int, int]] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(b) for b in self.blocks)


def _split(block: Block, n: int) -> tuple[Block, Block]:
    """The first `n` samples of `block`, and the rest."""
    head = replace(
        block,
        timestamps=block.timestamps[:n],
        data={k: v[:n] for k, v in block.data.items()},
    )
    tail = replace(
        block,
        timestamps=block.timestamps[n:],
        data={k: v[n:] for k, v in block.data.items()},
    )
    return head, tail


class Backlog:
    """Points waiting to be written, bounded; counts what it drops."""

    def __init__(self, max_points: int) -> None:
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        self.max_points = max_points
        self.pending = 0
        self.dropped = 0
        self._blocks: deque[tuple[tuple[int, int], Block]] = deque()  # (place, block)
        self._arrivals = itertools.count()

    def add(self, block: Block) -> None:
        self._blocks.append(((next(self._arrivals), 0), block))
        self.pending += len(block)
        self._trim()

    def take(self, batch_size: int) -> Batch:
        """The oldest points, at most `batch_size` of them (an empty batch when none wait)."""
        blocks: list[Block] = []
        places: list[tuple[int, int]] = []
        room = batch_size
        while self._blocks and room > 0:
            place, block = self._blocks.popleft()
            if len(block) > room:
                block, rest = _split(block, room)
                self._blocks.appendleft(((place[0], place[1] + room), rest))
            blocks.append(block)
            places.append(place)
            room -= len(block)
        batch = Batch(blocks, places)
        self.pending -= batch.points
        return batch

    def put_back(self, batch: Batch) -> None:
        """Return a batch that was not written to where it was taken from."""
        for place, block in zip(reversed(batch.places), reversed(batch.blocks), strict=True):
            # before the first block that came after it: usually the front
            at = next((i for i, (p, _) in enumerate(self._blocks) if p >= place), None)
            self._blocks.insert(len(self._blocks) if at is None else at, (place, block))
        self.pending += batch.points
        self._trim()

    def lag(self, now: float) -> float:
        return max(0.0, now - self._blocks[0][1].received) if self._blocks else 0.0

    def _trim(self) -> None:
        while self.pending > self.max_points:
            excess = self.pending - self.max_points
            place, oldest = self._blocks[0]
            if len(oldest) <= excess:
                self._blocks.popleft()
                gone = len(oldest)
            else:
                self._blocks[0] = (place, _split(oldest, excess)[1])
                gone = excess
            self.pending -= gone
            self.dropped += gone
