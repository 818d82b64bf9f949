import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socs_like.feed import Feed, feed_event


def recorded(**kw):
    return Feed("observatory.x", "temps", agent_class="X", record=True, **kw)


def test_plain_feed_events_carry_feed_info_and_sequence():
    f = Feed("observatory.x", "status", agent_class="X")
    f.publish({"a": 1})
    f.publish({"a": math.nan})
    events = f.take_events()
    assert [p for p, _ in events] == [{"a": 1}, {"a": None}]
    info = events[1][1]
    assert info["seq_no"] == 1 and info["seq_count"] == 1
    assert info["address"] == "observatory.x.feeds.status"
    assert info["agent_address"] == "observatory.x" and info["record"] is False
    assert f.take_events() == []


def test_recorded_samples_merge_into_blocks():
    f = recorded()
    f.publish({"block_name": "b", "timestamp": 1.0, "data": {"t": 1.5}})
    f.publish({"block_name": "b", "timestamps": [2.0, 3.0], "data": {"t": [2.5, 3.5]}})
    f.publish({"block_name": "c", "timestamp": 4.0, "data": {"v": "on"}})
    [(payload, info)] = f.take_events()
    assert payload == {
        "b": {"block_name": "b", "timestamps": [1.0, 2.0, 3.0], "data": {"t": [1.5, 2.5, 3.5]}},
        "c": {"block_name": "c", "timestamps": [4.0], "data": {"v": ["on"]}},
    }
    assert (info["seq_no"], info["seq_count"]) == (0, 3)


@pytest.mark.parametrize(
    "message, error",
    [
        ({"block_name": "b", "timestamp": 1, "data": {"1bad": 1}}, "invalid field name '1bad'"),
        ({"block_name": "b", "timestamp": 1, "data": {"x-y": 1}}, "invalid field name 'x-y'"),
        (
            {"block_name": "b", "timestamp": 1, "data": {"x": [1]}},
            "is not a number, string or bool",
        ),
        ({"block_name": "b", "data": {"x": 1}}, "needs 'timestamp' or 'timestamps'"),
        ({"timestamp": 1, "data": {"x": 1}}, "non-empty string 'block_name'"),
        ({"block_name": "b", "timestamps": [1, 2], "data": {"x": [1]}}, "has 1 values for 2"),
    ],
)
def test_bad_recorded_messages_are_refused_with_the_reason(message, error):
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("(", r"\(")):
        recorded().publish(message)


def test_block_fields_are_fixed_at_first_sample():
    f = recorded()
    f.publish({"block_name": "b", "timestamp": 1, "data": {"x": 1}})
    with pytest.raises(ValueError, match="fixed at its first sample"):
        f.publish({"block_name": "b", "timestamp": 2, "data": {"y": 1}})


def test_full_buffer_drops_oldest_and_the_gap_shows():
    f = recorded(max_buffer=3)
    for i in range(5):
        f.publish({"block_name": "b", "timestamp": i, "data": {"x": i}})
    assert f.dropped == 2
    [(payload, info)] = f.take_events()
    assert payload["b"]["data"]["x"] == [2, 3, 4]
    assert (info["seq_no"], info["seq_count"]) == (2, 3)
    assert f.encoded()["dropped"] == 2


def test_large_blocks_are_split_under_the_event_limit():
    f = recorded(max_event_bytes=64 * 1024)
    n = 20_000
    f.publish(
        {
            "block_name": "b",
            "timestamps": [float(i) for i in range(n)],
            "data": {"x": [i * 0.5 for i in range(n)], "y": [1.0] * n},
        }
    )
    events = f.take_events()
    assert len(events) > 1
    got = []
    next_seq = None
    for payload, info in events:
        assert len(json.dumps(payload)) < 64 * 1024
        if next_seq is not None:
            assert info["seq_no"] == next_seq
        next_seq = info["seq_no"] + info["seq_count"]
        got.extend(payload["b"]["timestamps"])
    assert got == [float(i) for i in range(n)]


def test_oversized_plain_message_is_refused():
    f = Feed("observatory.x", "blob", max_event_bytes=1000)
    with pytest.raises(ValueError, match="over the 1000-byte limit"):
        f.publish({"text": "x" * 2000})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30),
    st.integers(min_value=2_000, max_value=50_000),
)
def test_every_sample_arrives_once_in_order_within_the_limit(sizes, limit):
    f = recorded(max_event_bytes=limit)
    t = 0
    for n in sizes:
        f.publish(
            {
                "block_name": "b",
                "timestamps": list(range(t, t + n)),
                "data": {"v": list(range(t, t + n))},
            }
        )
        t += n
    seen, seq = [], 0
    for payload, info in f.take_events():
        assert info["seq_no"] == seq
        seq += info["seq_count"]
        assert len(json.dumps(payload)) <= limit
        seen.extend(payload["b"]["data"]["v"])
    assert seen == list(range(t))


def test_feed_event_reads_the_ocs_shape_and_the_two_argument_form():
    info = {"agent_address": "observatory.x", "feed_name": "f"}
    assert feed_event(([{"a": 1}, info],)) == ({"a": 1}, info)
    assert feed_event(({"a": 1}, info)) == ({"a": 1}, info)
    assert feed_event(([1, {"not": "info"}],)) == ([1, {"not": "info"}], {})
    assert feed_event(()) == (None, {})


def _block(t0: float, n: int) -> dict:
    return {
        "block_name": "b",
        "timestamps": [t0 + i for i in range(n)],
        "data": {"t": [float(i) for i in range(n)]},
    }


def test_buffer_bounded_in_bytes_drops_oldest_and_counts_a_rate():
    f = recorded(max_buffer_bytes=10_000)
    for k in range(10):
        f.publish(_block(k * 100, 50))  # ~2 400 estimated bytes each
    assert f.pending_bytes <= 10_000
    assert f.dropped == 10 - f.pending > 0
    events = f.take_events()
    assert events[0][1]["seq_no"] == f.dropped  # the oldest went; the gap shows
    assert f.pending_bytes == 0

    f.tick(100.0)
    assert f.drop_rate == 0.0
    before = f.dropped
    for k in range(10):
        f.publish(_block(k * 100, 50))
    f.tick(102.0)
    assert f.drop_rate == (f.dropped - before) / 2 > 0
    assert f.encoded()["drop_rate"] == round(f.drop_rate, 3)


def test_take_hands_out_a_bounded_share_in_order():
    f = recorded()
    for k in range(6):
        f.publish(_block(k * 100, 50))
    size_one = f.pending_bytes // 6
    first, size = f.take(2 * size_one)
    assert size == 2 * size_one and f.pending == 4
    rest, _ = f.take(1)  # under one record: one all the same
    assert f.pending == 3
    last, _ = f.take(None)
    seqs = [(i["seq_no"], i["seq_count"]) for _, i in first + rest + last]
    assert seqs == [(0, 2), (2, 1), (3, 3)]
    assert f.pending_bytes == 0


def _sample(f, t):
    f.publish({"block_name": "b", "timestamp": t, "data": {"t": t}})


def _seqs(events):
    return [(i["seq_no"], i["seq_count"]) for _, i in events]


def test_held_events_go_again_in_order_ahead_of_newer_records_until_acknowledged():
    f = recorded(max_event_bytes=300)  # two records an event
    for t in range(6):
        _sample(f, float(t))
    sent, _ = f.take(None, hold=True)
    assert f.pending == 0 and f.encoded()["unacknowledged"] == 6 and f.held_bytes > 0
    first, second = (i["seq_no"] for _, i in sent[:2])
    f.acknowledge(first)  # the hub has the first event; the connection then dies
    _sample(f, 6.0)
    f.release_all()
    again, _ = f.take(None, hold=True)
    # each unacknowledged event again exactly as it went (a subscriber that got it sees a
    # duplicate it can drop whole), then the newer record
    assert again[0][1]["seq_no"] == second
    assert again[: len(sent) - 1] == sent[1:]
    stamps = [ts for p, _ in again for ts in p["b"]["timestamps"]]
    assert stamps == [float(t) for t in range(sent[1][1]["seq_no"], 7)]
    for _, info in again:
        f.acknowledge(info["seq_no"])
    assert f.encoded()["unacknowledged"] == 0 and f.held_bytes == 0 and f.dropped == 0


def test_a_bounded_take_sends_no_newer_record_before_an_older_returned_event():
    # What a lost connection carried comes back as whole events; when the next one does not
    # fit in what is left of a take's budget, a small newer record must not go before it
    # (a recorder would write samples out of order; far enough apart, past its window)
    f = recorded(max_event_bytes=300)  # two records an event
    for t in range(6):
        _sample(f, float(t))
    f.take(None, hold=True)
    f.release_all()
    _sample(f, 6.0)
    one_event = f.pending_bytes * 2 // 7
    sent = []
    while f.pending:
        sent += f.take(one_event * 3 // 2)[0]  # one event and one record
    stamps = [ts for p, _ in sent for ts in p["b"]["timestamps"]]
    assert stamps == [float(t) for t in range(7)]


def test_releases_out_of_order_still_send_oldest_first():
    f = Feed("observatory.x", "status", agent_class="X")
    for n in range(4):
        f.publish({"n": n})
    f.take(None, hold=True)
    f.publish({"n": 4})
    for seq in (2, 0, 3, 1):
        f.release(seq)
    assert [p["n"] for p, _ in f.take_events()] == [0, 1, 2, 3, 4]


def test_held_records_count_in_the_byte_bound_and_a_refused_event_is_counted_dropped():
    f = Feed("observatory.x", "status", agent_class="X", max_buffer_bytes=100)
    f.publish({"pad": "x" * 30})  # ~41 bytes
    [(_, held)] = f.take(None, hold=True)[0]
    f.publish({"pad": "y" * 30})
    f.publish({"pad": "z" * 30})  # with the held one, over the bound: the oldest waiting goes
    assert f.dropped == 1 and [p["pad"][0] for p, _ in f.take_events()] == ["z"]
    f.drop_held(held["seq_no"])
    assert f.dropped == 2 and f.held_bytes == 0


def test_a_recorded_feed_replays_what_it_sent_one_record_an_event_within_its_bound():
    # two records an event; a kept record costs its size (113 bytes) and 1 KiB: ~9 records
    f = recorded(max_event_bytes=300, replay_bytes=10_000)
    for t in range(6):
        _sample(f, float(t))
    f.take(None, hold=True)
    f.release_all()  # sent again after a lost connection: kept once
    f.take(None, hold=True)
    _sample(f, 6.0)  # not sent yet: not kept

    def stamps(events):
        return [p["b"]["timestamps"] for p, _ in events]

    assert stamps(f.replay(2, None, 10**6)) == [[2.0], [3.0], [4.0], [5.0]]
    assert _seqs(f.replay(1, 2, 10**6)) == [(1, 1), (2, 1)]
    assert len(f.replay(0, None, 1)) == 1  # at least one record, more when asked again
    for t in range(7, 20):
        _sample(f, float(t))
    f.take(None, hold=True)
    kept = f.replay(0, None, 10**6)
    assert stamps(kept)[-1] == [19.0] and 5 <= len(kept) < 13  # the newest, about 10 000 bytes


def test_a_recorded_feed_keeps_for_replay_only_what_it_sent_within_its_time():
    f = recorded(replay_seconds=0.0)
    _sample(f, 0.0)
    f.take(None, hold=True)
    _sample(f, 1.0)
    f.take(None, hold=True)  # later than 0 s after the first was sent
    assert [i["seq_no"] for _, i in f.replay(0, None, 10**6)] == [1]
