"""Loop health: an agent reports how long its event loop was blocked, and warns past a limit."""

from __future__ import annotations

from socs_like.agent import LAG_WARNING
from socs_like.ops import ResponseCode
from socs_like.testing import wait_until


def test_a_blocked_loop_shows_in_the_heartbeat_get_api_and_the_log(
    run_agent, make_client, feed_listener
):
    proc = run_agent("FakeData", "laggy")
    beats = feed_listener("laggy", "heartbeat")
    calm = beats.wait_for(lambda ev: len(ev) >= 2 and ev[-1], 15)
    assert 0 <= calm[1]["loop_lag_ms"] < LAG_WARNING * 1000  # an idle agent is not lagging
    c = make_client("laggy")
    before = c.get_api()["loop"]
    assert before["stalls"] == 0 and before["warning_ms"] == LAG_WARNING * 1000

    assert c.block_loop(seconds=0.8).status == ResponseCode.OK
    lagged = beats.wait_for(lambda ev: [info for _, info in ev if info["loop_lag_ms"] >= 600], 15)
    assert lagged[0]["feed_name"] == "heartbeat"
    assert c.get_api()["loop"]["stalls"] >= 1
    wait_until(lambda: "the event loop was blocked for" in proc.output(), 10)
    assert "ms in the last second (warning at 250 ms)" in proc.output()
