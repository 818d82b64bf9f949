"""The HostManager's ``states`` feed carries changes, not the supervisor's refreshes of the
uptimes (sans-I/O: what the supervisor sends handed to the agent's code, no hub)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from socs_like import Agent, OpSession
from socs_like.testing.inprocess import hubless_settings
from socs_like_agents.host_manager.agent import HostManager


def _child(state: str, uptime: float) -> dict[str, Any]:
    return {"instance_id": "fd1", "class": "FakeData", "state": state, "uptime": uptime}


def test_a_refresh_that_only_moves_the_uptimes_is_not_published_but_kept_in_the_data():
    agent = Agent(hubless_settings("hm-t"), agent_class="HostManager")
    hm = HostManager(agent, argparse.Namespace(control=Path("/nonexistent"), site_host="h"))
    session = OpSession(1, "manager")
    hm._show(session, [_child("running", 1.0)])
    hm._show(session, [_child("running", 6.0)])  # the supervisor's refresh
    assert session.data["instances"]["fd1"]["uptime"] == 6.0  # `socs-like host list` reads it
    hm._show(session, [_child("restarting", 6.5)])
    published = [p["instances"]["fd1"] for p, _ in hm.feed.take_events()]
    assert [(s["state"], s["uptime"]) for s in published] == [("running", 1.0), ("restarting", 6.5)]
