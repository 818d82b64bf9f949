"""The recorders' queue: whole chunks out in order, back where they came from, bounded in bytes
(oldest dropped and counted), at a cost that does not grow with what waits."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socs_like_agents.recording import backlog
from socs_like_agents.recording.backlog import MIB, Backlog, Batch
from socs_like_agents.recording.intake import Block, FeedIntake


@dataclass(frozen=True)
class Run:
    """A chunk: the numbers ``first .. first + points - 1``."""

    first: int
    points: int
    nbytes: int = 100
    received: float = 0.0
    feed: str = "obs.a.feeds.f"


def numbers(batch: Batch[Run]) -> list[int]:
    return [n for c in batch.chunks for n in range(c.first, c.first + c.points)]


def test_the_backlog_hands_out_whole_chunks_in_order():
    q: Backlog[Run] = Backlog(max_bytes=10_000)
    for first, points in [(0, 3), (3, 4), (7, 2)]:
        q.add(Run(first, points))
    first = q.take(5)
    assert numbers(first) == [0, 1, 2] and q.pending == 6 and q.pending_bytes == 200
    big = q.take(2)  # more than asked for, alone: a chunk is never split
    assert numbers(big) == [3, 4, 5, 6]
    q.put_back(big)
    q.put_back(first)
    assert (q.pending, q.pending_bytes) == (9, 300)
    assert numbers(q.take(100)) == list(range(9))
    assert q.pending == 0 and q.pending_bytes == 0 and q.take(10).points == 0


def test_a_full_backlog_drops_its_oldest_chunks_and_counts_their_points():
    q: Backlog[Run] = Backlog(max_bytes=250)
    q.add(Run(0, 3, received=10.0))
    q.add(Run(3, 4, received=11.0))
    assert q.dropped == 0
    q.add(Run(7, 2, received=12.0, feed="obs.b.feeds.g"))  # 300 bytes: the oldest goes
    assert (q.pending, q.pending_bytes, q.dropped) == (6, 200, 3)
    assert q.lag(now=12.5) == 1.5
    q.put_back(q.take(10))
    q.add(Run(9, 1, received=13.0))  # what was put back is older: it goes first
    assert q.dropped == 7
    assert numbers(q.take(10)) == [7, 8, 9]
    assert q.dropped_by_feed == {"obs.a.feeds.f": 7}
    assert q.lag(now=20) == 0.0


def test_batches_put_back_in_any_order_return_to_their_places():
    # two writes in flight fail, in either order, while more arrives: everything comes out
    # in order
    for older_first in (True, False):
        q: Backlog[Run] = Backlog(max_bytes=10_000)
        for first in range(0, 30, 5):
            q.add(Run(first, 5))
        a, b = q.take(10), q.take(10)
        q.add(Run(30, 5))
        for batch in (a, b) if older_first else (b, a):
            q.put_back(batch)
        assert q.pending == 35
        assert numbers(q.take(100)) == list(range(35))

    small: Backlog[Run] = Backlog(max_bytes=300)
    for first in (0, 4, 8):
        small.add(Run(first, 4))
    first, second = small.take(4), small.take(4)
    small.add(Run(12, 4))
    small.put_back(first)
    small.put_back(second)  # 400 bytes waiting, 300 kept: the oldest chunk goes
    assert small.dropped == 4
    assert numbers(small.take(100)) == list(range(4, 16))


def lines_run(work: Callable[[], object]) -> int:
    """Lines of the backlog module that `work` runs: a measure of work that, unlike a clock,
    gives the same answer on a loaded machine."""
    count = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if frame.f_code.co_filename != backlog.__file__:
            return None
        count += event == "line"
        return trace

    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(None)
    return count


def retry_cost(batch_chunks: int, waiting: int) -> int:
    """Two batches of one-point chunks out, failed, put back (the older first, the costly
    order), in front of `waiting` more."""
    q: Backlog[Run] = Backlog(max_bytes=10**12)
    for i in range(2 * batch_chunks + waiting):
        q.add(Run(i, 1))
    a, b = q.take(batch_chunks), q.take(batch_chunks)
    return lines_run(lambda: (q.put_back(a), q.put_back(b)))


def test_putting_back_costs_the_batch_not_the_queue():
    # A write retried every few seconds through an hour's outage puts its batches back each
    # time: that must cost what the batches hold, not what waits behind them, and grow with
    # the batch in proportion (one-point blocks, put back one by one behind the other batch,
    # once made it grow with the square: 7 s for two batches of 10 000, and the publisher
    # lost the hub).
    assert retry_cost(100, waiting=100) == retry_cost(100, waiting=100_000)
    assert retry_cost(1000, waiting=100) < 15 * retry_cost(100, waiting=100)


def meta_event(seq: int) -> str:
    """A pysmurf monitor event as the wire brings it: one-point blocks, one per register."""
    blocks = {
        f"AMCc_FpgaTopLevel_AppTop_AppCore_reg{i}": {
            "block_name": f"AMCc_FpgaTopLevel_AppTop_AppCore_reg{i}",
            "timestamps": [1.7e9 + seq + i * 1e-3],
            "data": {f"AMCc_FpgaTopLevel_AppTop_AppCore_reg{i}": [float(seq * 40 + i)]},
        }
        for i in range(40)
    }
    blocks["status"] = {
        "block_name": "status",
        "timestamps": [1.7e9 + seq + k * 0.1 for k in range(10)],
        "data": {"state": ["locked"] * 10, "temperature": [4.2 + k for k in range(10)]},
    }
    return json.dumps(blocks)


def test_a_queue_of_blocks_holds_about_the_memory_it_counts():
    # The FileRecorder queues `Block`s: its byte bound is only a bound if what a block says it
    # takes is what it takes.
    intake = FeedIntake("observatory", "exclude_aggregator")
    events = [meta_event(seq) for seq in range(250)]  # four times what the bound holds
    q: Backlog[Block] = Backlog(max_bytes=2 * MIB)
    info = {"agent_address": "observatory.pm", "feed_name": "ufm_mv1_meta", "record": True}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for seq, text in enumerate(events):
            for block in intake.take(json.loads(text), info | {"seq_no": seq}, 0.0):
                q.add(block)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert q.dropped > 0 and q.pending_bytes <= q.max_bytes
    assert 0.8 * q.pending_bytes < used < 1.2 * q.max_bytes
