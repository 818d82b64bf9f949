"""An agent asked for far more than it can carry degrades: it stays on the hub, answers, beats,
and says what it skipped and dropped."""

from __future__ import annotations

import time

from socs_like.ops import ResponseCode


def _records(events) -> list[tuple[int, int]]:
    return sorted((info["seq_no"], info["seq_count"]) for _, info in events)


def test_ten_million_samples_a_second_keeps_the_agent_on_the_hub(
    run_agent, make_client, feed_listener
):
    proc = run_agent("FakeData", "overloaded", args=["--num-channels", "4"])
    temps = feed_listener("overloaded", "false_temperatures")
    beats = feed_listener("overloaded", "heartbeat")
    c = make_client("overloaded")
    # more than it can make (a million a second it makes and sends: docs/benchmarks.md)
    assert c.acq.start(sample_rate=10_000_000).status == ResponseCode.OK
    temps.wait_for(lambda ev: ev, 30)
    beats_before = len(beats.events)
    deadline = time.monotonic() + 6
    answers = []
    while time.monotonic() < deadline:
        answers.append(c.get_api())  # raises if the agent does not answer in time
        time.sleep(1)
    assert len(beats.events) - beats_before >= 3  # still beating, about once a second
    api = answers[-1]
    feed = dict(api["feeds"])["false_temperatures"]
    assert {"dropped", "drop_rate", "pending"} <= set(feed)
    assert api["loop"]["lag_ms"] >= 0

    assert c.acq.stop().status == ResponseCode.OK
    done = c.acq.wait(timeout=30)
    assert done.session["success"] is True
    data = done.session["data"]
    # asked for more than it can make: it made what it could, in real time, and says so
    assert data["samples_skipped"] > 0 and data["samples_sent"] > 0
    dropped = dict(c.get_api()["feeds"])["false_temperatures"]["dropped"]
    assert data["feed_dropped"] == dropped
    # every record it made arrived, or is counted as dropped: a gap for each drop
    temps.wait_for(
        lambda ev: (
            sum(n for _, n in _records(ev)) + dropped
            >= dict(c.get_api()["feeds"])["false_temperatures"]["next_seq_no"]
        ),
        30,
    )
    records = _records(temps.events)
    assert records[0][0] == 0
    samples = sum(len(p["temps"]["timestamps"]) for p, _ in temps.events)
    assert samples == data["samples_sent"] or dropped > 0
    assert "lost the hub" not in proc.output()
