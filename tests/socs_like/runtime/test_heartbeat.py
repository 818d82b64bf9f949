"""The heartbeat (runtime/heartbeat.py) and the loop lag it carries (runtime/loop_health.py)."""

from __future__ import annotations

import logging

from socs_like.feed import Feed
from socs_like.runtime.heartbeat import Heartbeat
from socs_like.runtime.loop_health import LAG_WARNING, LoopHealth


def test_a_beat_carries_the_op_codes_when_it_was_sent_and_the_loop_lag():
    beat = Heartbeat(Feed("site.a", "heartbeat", max_buffer=1), clock=lambda: 1234.5)
    beat.beat({"acq": 3, "idle": 1}, loop_lag=0.01234)
    ((payload, info),) = beat.feed.take_events()
    assert payload == {"acq": 3, "idle": 1}
    assert (info["time"], info["loop_lag_ms"], info["feed_name"]) == (1234.5, 12.3, "heartbeat")


def test_a_silenced_heartbeat_sends_nothing_but_keeps_its_info_current():
    beat = Heartbeat(Feed("site.a", "heartbeat", max_buffer=1), clock=lambda: 7.0)
    beat.enabled = False
    beat.beat({"acq": 3}, loop_lag=0.5)
    assert beat.feed.take_events() == []
    assert beat.feed.info_extra == {"time": 7.0, "loop_lag_ms": 500.0}


def test_each_interval_reports_its_own_worst_lag_and_warns_past_the_limit(caplog):
    health = LoopHealth()
    for lag in (0.01, LAG_WARNING + 0.05, 0.02):
        health.watchdog.observe(lag)
    with caplog.at_level(logging.WARNING, "socs_like.runtime.loop_health"):
        assert health.measure() == LAG_WARNING + 0.05
        assert health.as_dict() == {"lag_ms": 300.0, "warning_ms": 250.0, "stalls": 1}
        health.watchdog.observe(0.02)
        assert health.measure() == 0.02  # the last interval's, not the worst ever
    assert [r.getMessage() for r in caplog.records] == [
        "the event loop was blocked for 300 ms in the last second (warning at 250 ms): "
        "calls, pings and feeds waited that long"
    ]
    assert health.as_dict()["stalls"] == 1  # stalls count since the start
