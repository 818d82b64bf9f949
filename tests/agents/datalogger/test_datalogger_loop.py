"""The DataGrabber's heavy path, a grab of many devices over days (HTTP, HDF5, statistics
into the database, the plot page), runs off its event loop (``blocking=True`` tasks): the
agent keeps answering the hub while it grabs."""

from __future__ import annotations

from socs_like.testing import wait_until
from socs_like.testing.loop import LoopProbe

from .conftest import write_list

DEVICES = [f"B:LOAD{i:02d}" for i in range(30)]


def test_a_long_grab_runs_while_the_loop_stays_free(
    hub, run_agent, make_client, feed_listener, logger_sim, tmp_path
):
    run_agent(
        "DataGrabber",
        "grabber-heavy",
        args=[
            *("--logger-url", logger_sim.url),
            *("--device-list", str(write_list(tmp_path / "list.txt", *DEVICES))),
            *("--outdir", str(tmp_path / "out"), "--db-path", str(tmp_path / "stats.db")),
            *("--param-schedule", "off", "--event-schedule", "off"),
        ],
    )
    client = make_client("grabber-heavy")
    beats = feed_listener("grabber-heavy", "heartbeat")
    wait_until(lambda: beats.events, 30, message="the agent's first heartbeat")
    with LoopProbe(client, beats) as probe:
        client.grab_params.start(stopat="2027-01-15 00:00:00", days=3)
        session = client.grab_params.wait(timeout=100).session
    assert session["success"] is True, session["messages"]
    [report] = session["data"]["reports"]
    assert report["missing"] == {}
    assert (session["data"]["progress"]["done"], session["data"]["progress"]["total"]) == (30, 30)
    probe.assert_responsive()  # on the loop this grab lags 8 s
