"""The recorders' intake: which events are kept, duplicates dropped, gaps counted, bad events
refused with their reason."""

from __future__ import annotations

from typing import Any

import pytest

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


FEED = "observatory.fd1.feeds.temps_feed"


def test_records_published_while_the_recorder_was_down_are_counted_with_their_ranges():
    before = FeedIntake("observatory", "exclude_influx")
    before.take(payload(1.0), info(0, 4), 0)  # records 0..3
    after = FeedIntake("observatory", "exclude_influx")  # a new process of the recorder
    after.resume(before.last_seen())
    assert after.take(payload(2.0), info(10, 2), 0)  # records 4..9 went by while it was down
    assert after.take(payload(3.0), info(13), 0)  # a gap while it runs: lost, as before
    assert after.counts.missed_while_down == 6
    assert after.counts.missed_while_down_by_feed == {FEED: [[4, 9]]}
    assert after.stats()["records"]["lost"] == 1
    assert after.last_seen() == {FEED: 13}


def test_after_a_restart_a_record_sent_again_is_a_duplicate_and_a_new_publisher_is_counted():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({FEED: 20, "observatory.fd2.feeds.f": 7})
    assert intake.take(payload(1.0), info(19, 2), 0) == []  # the hub sent 19..20 again
    assert intake.counts.missed_while_down == 0 and intake.counts.duplicate_events == 1
    # a feed not seen yet this run is still remembered for the next restart
    assert intake.last_seen() == {FEED: 20, "observatory.fd2.feeds.f": 7}

    restarted = FeedIntake("observatory", "exclude_influx")
    restarted.resume({FEED: 5000})
    # far below the last number seen: its publisher began again, and 0..2 went by
    assert restarted.take(payload(5.0), info(3), 0)
    assert restarted.counts.missed_while_down_by_feed == {FEED: [[0, 2]]}
    assert restarted.stats()["records"]["restarts"] == 1


def test_records_published_while_the_recorder_was_away_from_the_hub_are_counted_apart():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.take(payload(1.0), info(0, 4), 0)  # records 0..3
    intake.away()  # the hub is lost: 4..6 go by before it has subscribed again
    assert intake.take(payload(2.0), info(7), 0)
    assert intake.take(payload(3.0), info(9), 0)  # a gap once subscribed again: lost
    assert (intake.counts.missed_while_away, intake.counts.missed_while_down) == (3, 0)
    assert intake.counts.missed_while_away_by_feed == {FEED: [[4, 6]]}
    assert intake.stats()["records"]["lost"] == 1


def test_records_asked_of_the_publisher_fill_what_was_counted_missed():
    intake = FeedIntake("observatory", "exclude_influx")
    intake.resume({FEED: 3, "observatory.fd2.feeds.f": 7})
    # asked for: every record after the last seen of each feed not heard from
    assert intake.wanted() == [(FEED, 4, None), ("observatory.fd2.feeds.f", 8, None)]
    assert intake.take(payload(9.0), info(9), 0)  # live first: 4..8 counted missed
    assert intake.wanted() == [("observatory.fd2.feeds.f", 8, None), (FEED, 4, 8)]
    for n in (4, 6, 5, 8, 7):  # the publisher's answer, a record an event, in any order
        assert intake.take(payload(float(n)), info(n), 0)
    assert intake.take(payload(6.0), info(6), 0) == []  # once only
    assert (intake.counts.recovered, intake.counts.missed_while_down) == (5, 0)
    assert intake.wanted() == [("observatory.fd2.feeds.f", 8, None)]
    assert intake.stats()["records"]["lost"] == 0 and intake.last_seen()[FEED] == 9
