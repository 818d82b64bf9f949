"""The publish budget (runtime/scheduler.py): which feed events go out in one loop turn."""

from __future__ import annotations

import math

import pytest

from socs_like.feed import Feed
from socs_like.runtime.scheduler import (
    ACK_RETRY,
    DRAIN_RETRY,
    HIGH_WATER,
    PUBLISH_BUDGET,
    UNACKED_WINDOW,
    FeedScheduler,
)

KB200 = "x" * (200 * 1024)


def _feed(name: str, n: int = 0, **kw: object) -> Feed:
    feed = Feed("site.a", name, max_event_bytes=300 * 1024, **kw)  # type: ignore[arg-type]
    for _ in range(n):
        feed.publish(KB200)
    return feed


def _sent(batches: list) -> list[tuple[str, int]]:
    return [(b.feed.name, len(b.events)) for b in batches]


def test_one_turn_publishes_about_the_budget_and_the_rest_waits_for_the_next():
    beat = _feed("heartbeat", 3)
    feeds = {name: _feed(name, 2) for name in ("a", "b", "c")} | {"heartbeat": beat}
    scheduler = FeedScheduler(feeds, always=(beat,))
    batches, wait = scheduler.turn(now=100.0, write_buffered=0)
    # a: 400 KB of the 512; b: one event (at least one, past the budget); c: nothing
    assert _sent(batches) == [("a", 2), ("b", 1), ("heartbeat", 3)]
    assert 2 * len(KB200) < PUBLISH_BUDGET < 3 * len(KB200)
    assert wait == 0.0  # a backlog: the next turn at once
    batches, wait = scheduler.turn(now=100.0, write_buffered=0)
    assert _sent(batches) == [("b", 1), ("c", 1)] and wait == 0.0
    batches, wait = scheduler.turn(now=100.0, write_buffered=0)
    assert _sent(batches) == [("c", 1)]
    assert wait == math.inf  # nothing waits


def test_a_congested_socket_takes_only_heartbeat_and_session_pushes():
    beat, sessions, a = _feed("heartbeat", 1), _feed("sessions", 1), _feed("a", 1)
    scheduler = FeedScheduler({"a": a, "heartbeat": beat, "sessions": sessions}, (beat, sessions))
    batches, wait = scheduler.turn(now=1.0, write_buffered=HIGH_WATER + 1)
    assert _sent(batches) == [("heartbeat", 1), ("sessions", 1)]
    assert wait == DRAIN_RETRY and a.pending == 1
    batches, _ = scheduler.turn(now=1.0, write_buffered=HIGH_WATER)
    assert _sent(batches) == [("a", 1)]


def test_a_recorded_feed_is_held_and_waits_while_a_window_of_it_is_unacknowledged():
    feed = Feed("site.a", "rec", record=True)
    scheduler = FeedScheduler({"rec": feed}, always=())
    n = UNACKED_WINDOW // 48 + 1000  # 48 estimated bytes a sample of one field
    feed.publish({"block_name": "b", "timestamps": [1.0] * n, "data": {"v": [0.5] * n}})
    sent = 0
    while feed.pending:  # a few turns of the budget each
        batches, _ = scheduler.turn(now=1.0, write_buffered=0)
        sent += sum(len(b.events) for b in batches)
    assert feed.held_bytes > UNACKED_WINDOW  # all held until the hub acknowledges them
    feed.publish({"block_name": "b", "timestamp": 2.0, "data": {"v": 1.0}})
    assert scheduler.turn(now=1.0, write_buffered=0) == ([], ACK_RETRY)
    for seq_no in range(feed.next_seq_no):
        feed.acknowledge(seq_no)
    batches, _ = scheduler.turn(now=1.0, write_buffered=0)
    assert _sent(batches) == [("rec", 1)] and sent > 1


def test_a_feed_with_a_buffer_time_goes_out_at_most_once_per_that_time():
    feed = _feed("slow", 1, buffer_time=1.0)
    scheduler = FeedScheduler({"slow": feed}, always=())
    assert _sent(scheduler.turn(now=10.0, write_buffered=0)[0]) == [("slow", 1)]
    feed.publish("again")
    batches, wait = scheduler.turn(now=10.25, write_buffered=0)
    assert batches == [] and wait == pytest.approx(0.75)
    assert _sent(scheduler.turn(now=11.0, write_buffered=0)[0]) == [("slow", 1)]
