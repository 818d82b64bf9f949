"""The RunPipeline agent's heavy path, the passes (rsync, processing, tar and md5 of big
runs, database work), runs off its event loop: the agent keeps answering the hub."""

from __future__ import annotations

from socs_like.testing import wait_until
from socs_like.testing.loop import LoopProbe
from socs_like_agents.run_pipeline import states

from .conftest import Site

SIZE = 50 * 1024 * 1024  # two runs of two such files: 200 MB to move, process and archive


def test_big_runs_go_through_every_pass_while_the_loop_stays_free(
    site: Site, run_agent, make_client, feed_listener
):
    run_agent(
        "RunPipeline",
        "pipeline-heavy",
        args=[
            *site.args("--bundle-runs", "2"),
            *("--transfer-period", "0.3", "--process-period", "0.3"),
            *("--archive-period", "0.3", "--monitor-period", "0.3"),
        ],
    )
    client = make_client("pipeline-heavy")
    wait_until(lambda: client.monitor.status().session.get("status") == "running", 30)
    names = ["run_000001", "run_000002"]
    with LoopProbe(client, feed_listener("pipeline-heavy", "heartbeat")) as probe:
        for name in names:
            site.acquire(name, files=2, size=SIZE)
        wait_until(
            lambda: all(site.status(n) == (states.ARCHIVED, states.PROCESSED) for n in names),
            120,
            message="every run archived",
        )
    probe.assert_responsive()  # on the loop this work lags 3 s or more
