"""Loop health: an agent reports how long its event loop was blocked, and warns past a limit."""

from __future__ import annotations

from socs_like.agent import LAG_WARNING
from socs_like.ops import ResponseCode
from socs_like.testing import wait_until
from socs_like.testing.procs import wakeups


def test_a_blocked_loop_shows_in_the_heartbeat_get_api_and_the_log(
    run_agent, make_client, feed_listener
):
    proc = run_agent("FakeData", "laggy")
    beats = feed_listener("laggy", "heartbeat")
    # an idle agent is not lagging (waited for: a busy machine may delay a wake-up or two)
    beats.wait_for(
        lambda ev: len(ev) >= 2 and 0 <= ev[-1][1]["loop_lag_ms"] < LAG_WARNING * 1000, 15
    )
    c = make_client("laggy")
    before = c.get_api()["loop"]
    assert before["warning_ms"] == LAG_WARNING * 1000

    seen = len(beats.events)
    assert c.block_loop(seconds=0.8).status == ResponseCode.OK
    lagged = beats.wait_for(
        lambda ev: [info for _, info in ev[seen:] if info["loop_lag_ms"] >= 600], 15
    )
    assert lagged[0]["feed_name"] == "heartbeat"
    assert c.get_api()["loop"]["stalls"] > before["stalls"]
    wait_until(lambda: "the event loop was blocked for" in proc.output(), 10)
    assert "ms in the last second (warning at 250 ms)" in proc.output()


def test_an_idle_agent_wakes_little_more_than_once_a_beat(run_agent, feed_listener):
    # Every wake-up costs CPU (~0.15 ms here), in every agent of a site: an agent with
    # nothing to do wakes for its heartbeat and the hub's pings, not for its own timers.
    # Counted per heartbeat, not per second of wall time, so a slow machine changes nothing.
    proc = run_agent("FakeData", "sleepy")
    beats = feed_listener("sleepy", "heartbeat")
    beats.wait_for(lambda ev: len(ev) >= 1, 15)
    first, woken = len(beats.events), wakeups(proc.pid)
    beats.wait_for(lambda ev: len(ev) >= first + 5, 15)
    per_beat = (wakeups(proc.pid) - woken) / (len(beats.events) - first)
    assert per_beat <= 3, f"{per_beat:.1f} wake-ups a heartbeat"
