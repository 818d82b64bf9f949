"""The RunPipeline agent as a real process on the real hub, fed by the daq-runs simulator
(also a real process): runs reach ``archived``, the feeds say so, the tasks act on runs."""

from __future__ import annotations

import subprocess
import sys

from socs_like.testing import wait_until
from socs_like_agents.run_pipeline import states

from .conftest import Site


def test_the_agent_moves_simulated_runs_to_archived_and_publishes_it(
    site: Site, run_agent, make_client, feed_listener
):
    run_agent(
        "RunPipeline",
        "pipeline-agent",
        args=[
            *site.args("--bundle-runs", "3", "--daq-live-process", "sim-daq-live"),
            "--transfer-period",
            "0.5",
            "--process-period",
            "0.5",
            "--archive-period",
            "0.5",
            "--monitor-period",
            "0.3",
        ],
    )
    transitions = feed_listener("pipeline-agent", "transitions")
    counts = feed_listener("pipeline-agent", "run_counts")
    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "socs_like_agents.run_pipeline.simulator",
            "--db-path",
            str(site.db_path),
            "--data-dir",
            str(site.daq),
            "--runs",
            "3",
            "--run-seconds",
            "0.3",
            "--gap",
            "0.1",
            "--files",
            "2",
            "--size",
            "4096",
            "--live-name",
            "sim-daq-live",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sim.returncode == 0, sim.stderr
    names = ["run_000001", "run_000002", "run_000003"]
    assert sim.stdout.splitlines() == [
        "run_000001 acquired (physics, 2 files)",
        "run_000002 acquired (physics, 2 files)",
        "run_000003 acquired (physics, 2 files)",
    ]
    wait_until(
        lambda: all(site.status(n) == (states.ARCHIVED, states.PROCESSED) for n in names),
        60,
        message="every run archived",
    )

    def archived_on_feed(events):
        return sorted(p["run"] for p, _ in events if p["action"] == "archived")

    assert transitions.wait_for(lambda ev: archived_on_feed(ev) == names, 15)
    first = [p for p, _ in transitions.events if p["run"] == "run_000001"]
    assert [(p["action"], p["to_status"]) for p in first][:3] == [
        ("acquired", "acquired/none"),
        ("claim", "transferring/none"),
        ("transferred", "ondeck/none"),
    ]
    counts.wait_for(lambda ev: ev and ev[-1][0]["runs"]["data"]["raw_archived"][-1] == 3, 15)

    client = make_client("pipeline-agent")
    listing = client.list_runs(status="archived")
    assert [r["name"] for r in listing.session["data"]["runs"]] == names
    tagged = client.tag(run="run_000002", tags=["do-not-process"])
    assert tagged.session["data"]["tags"] == ["do-not-process"]
    refused = client.retry(run="run_000001")
    assert refused.session["success"] is False
    assert "run_000001 is archived/processed: nothing to retry" in refused.msg + str(
        refused.session["messages"]
    )
    status = client.transfer.status().session["data"]
    assert status["passes"] >= 1 and status["errors"] == 0
