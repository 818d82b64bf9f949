"""The recorders' intake: which events are kept, duplicates dropped, gaps counted, bad events
refused with their reason; and the bounded queue."""

from __future__ import annotations

from typing import Any

import pytest

from socs_like_agents.recording.backlog import Backlog
from socs_like_agents.recording.intake import Block, FeedIntake


def info(seq_no: int | None, count: int = 1, **extra: Any) -> dict[str, Any]:
    out = {
        "agent_address": "observatory.fd1",
        "feed_name": "temps_feed",
        "address": "observatory.fd1.feeds.temps_feed",
        "record": True,
        "agg_params": {},
        "seq_no": seq_no,
        "seq_count": count,
    } | extra
    return {k: v for k, v in out.items() if v is not None}


def payload(*times: float, name: str = "temps") -> dict[str, Any]:
    return {
        name: {
            "block_name": name,
            "timestamps": list(times),
            "data": {"x": [t * 2 for t in times], "s": ["a"] * len(times)},
        }
    }


def test_an_event_becomes_its_blocks():
    intake = FeedIntake("observatory", "exclude_influx")
    [block] = intake.take(payload(1.0, 2.0), info(0), received=5.0)
    expected_data = {"x": [2.0, 4.0], "s": ["a", "a"]}
    assert block == Block(
        "observatory.fd1", "fd1", "temps_feed", "temps", [1.0, 2.0], expected_data, 5.0
    )
    assert intake.counts.events == 1 and intake.counts.samples == 2


def test_an_event_seen_again_is_dropped_and_counted():
    intake = FeedIntake("observatory", "exclude_influx")
    assert intake.take(payload(1.0), info(0, 2), 0)
    assert intake.take(payload(2.0), info(2, 3), 0)
    assert intake.take(payload(2.0), info(2, 3), 0) == []  # the same records again
    assert intake.take(payload(2.0), info(3, 1), 0) == []  # one of them again
    assert intake.counts.duplicate_events == 2
    assert intake.take(payload(3.0), info(5), 0)  # the next one is kept
    assert intake.stats()["records"]["duplicates"] == 4
    assert intake.counts.events == 3 and intake.counts.samples == 3


def test_a_gap_is_counted_as_lost_records_and_late_ones_are_kept():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.take(payload(1.0), info(0), 0)
    assert intake.take(payload(9.0), info(10, 2), 0)
    assert intake.stats()["records"]["lost"] == 9
    assert intake.take(payload(5.0), info(4), 0)  # late: written, no longer lost
    assert intake.stats()["records"]["lost"] == 8


def test_feeds_are_tracked_apart():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.take(payload(1.0), info(0), 0)
    other = info(0, feed_name="other", address="observatory.fd1.feeds.other")
    assert intake.take(payload(1.0), other, 0)
    assert intake.counts.duplicate_events == 0


def test_events_without_numbers_are_kept():
    intake = FeedIntake("observatory", "exclude_influx")
    assert intake.take(payload(1.0), info(None), 0)
    assert intake.take(payload(1.0), info(None), 0)
    assert intake.stats()["records"]["untracked"] == 2


def test_plain_and_excluded_feeds_are_not_recorded():
    intake = FeedIntake("observatory", "exclude_influx")
    assert intake.take(payload(1.0), info(0, record=False), 0) == []
    assert intake.take(payload(1.0), info(0, agg_params={"exclude_influx": True}), 0) == []
    assert intake.counts.excluded == 1
    # another recorder's flag does not exclude it from this one
    assert intake.take(payload(1.0), info(1, agg_params={"exclude_aggregator": True}), 0)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ([1, 2], "payload is list, not a dict of blocks"),
        ({"b": 3}, "block 'b' is not a dict"),
        ({"b": {"timestamps": [1.0]}}, "block 'b' needs a 'timestamps' list and a 'data' dict"),
        (
            {"b": {"timestamps": [1.0], "data": {"x": [1, 2]}}},
            "block 'b': field 'x' needs a list of 1 values",
        ),
        (
            {"b": {"timestamps": [float("nan")], "data": {"x": [1]}}},
            "block 'b': timestamp nan is not a finite number",
        ),
        (
            {"b": {"timestamps": [1.0], "data": {"x": [[1]]}}},
            "block 'b': field 'x' has value [1]",
        ),
    ],
)
def test_a_bad_event_is_refused_whole_with_its_reason(bad, reason):
    intake = FeedIntake("observatory", "exclude_influx")
    assert intake.take(bad, info(0), 0) == []
    assert intake.counts.bad_events == 1
    assert intake.counts.last_error == f"observatory.fd1.feeds.temps_feed: {reason}"
    assert intake.take(payload(1.0), info(1), 0)  # and the next good one is kept


def block(n: int, start: float = 0.0, received: float = 0.0) -> Block:
    times = [start + i for i in range(n)]
    return Block("a", "a", "f", "b", times, {"x": list(times)}, received)


def test_the_backlog_hands_out_batches_in_order_splitting_blocks():
    q = Backlog(max_points=100)
    q.add(block(3, 0))
    q.add(block(4, 3))
    first = q.take(5)
    assert first.points == 5 and q.pending == 2
    assert [t for b in first.blocks for t in b.timestamps] == [0, 1, 2, 3, 4]
    assert first.blocks[1].data == {"x": [3, 4]}
    q.put_back(first)
    again = q.take(100)
    assert [t for b in again.blocks for t in b.timestamps] == [0, 1, 2, 3, 4, 5, 6]
    assert q.pending == 0 and q.take(10).points == 0


def test_a_full_backlog_drops_its_oldest_and_counts_them():
    q = Backlog(max_points=5)
    q.add(block(3, 0, received=10.0))
    q.add(block(4, 3, received=11.0))
    assert q.pending == 5 and q.dropped == 2
    assert [t for b in q.take(10).blocks for t in b.timestamps] == [2, 3, 4, 5, 6]
    q.add(block(2, 7, received=12.0))
    assert q.lag(now=12.5) == 0.5
    q.put_back(q.take(10))
    q.add(block(4, 9, received=13.0))  # what was put back is older: it goes first
    assert q.dropped == 3
    assert [t for b in q.take(10).blocks for t in b.timestamps] == [8, 9, 10, 11, 12]
    assert q.lag(now=20) == 0.0


def test_batches_put_back_in_any_order_return_to_their_places():
    # two writes in flight fail, the older first; a block split across them and the queue
    # must come out whole and in order, and trimming must drop the oldest points
    q = Backlog(max_points=100)
    for start in (0, 5, 10):
        q.add(block(5, start))
    a, b = q.take(3), q.take(4)  # a: 0-2; b: 3-4 and 5-6 (both blocks split)
    q.add(block(5, 15))
    q.put_back(a)
    q.put_back(b)
    assert q.pending == 20
    assert [t for blk in q.take(100).blocks for t in blk.timestamps] == list(range(20))

    small = Backlog(max_points=8)
    for start in (0, 4):
        small.add(block(4, start))
    first, second = small.take(3), small.take(3)
    small.add(block(4, 8))
    small.put_back(first)
    small.put_back(second)  # 12 waiting, 8 kept: the 4 oldest go
    assert small.dropped == 4
    assert [t for blk in small.take(100).blocks for t in blk.timestamps] == list(range(4, 12))


def test_the_first_event_sent_again_is_dropped_and_a_restart_is_still_kept():
    intake = FeedIntake("observatory", "exclude_influx")
    assert intake.take(payload(1.0, 2.0), info(0, 2), 0)
    assert intake.take(payload(1.0, 2.0), info(0, 2), 0) == []  # record 0 again: a duplicate
    assert intake.take(payload(3.0), info(2), 0)
    assert intake.take(payload(1.0, 2.0), info(0, 2), 0) == []  # resent after a reconnect
    assert intake.counts.duplicate_events == 2
    # the publisher restarted: its record 0 holds other samples, and is written
    [block] = intake.take(payload(10.0), info(0), 0)
    assert block.timestamps == [10.0]
    assert intake.take(payload(10.0), info(0), 0) == []  # ... once
    records = intake.stats()["records"]
    assert records["restarts"] == 1 and records["duplicates"] == 5
    assert intake.counts.events == 3 and intake.counts.samples == 4
