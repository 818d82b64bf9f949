"""OCS's HostManager API in our terms (sans-I/O), checked against real OCS where it has the
same logic."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from socs_like_agents.host_manager.ocs_api import BadRequests, child_states, parse_requests, plan

KNOWN = ["fd1", "fd2", "sim-tone"]


def ours(instance_id: str, state: str, cls: str = "FakeData") -> dict[str, Any]:
    return {"instance_id": instance_id, "class": cls, "state": state}


def test_child_states_map_each_state_and_leave_the_host_manager_out():
    states = child_states(
        [
            ours("hm-localhost", "running", "HostManager"),
            ours("up", "running"),
            ours("retry", "restarting"),
            ours("loop", "crash-looping"),
            ours("dead", "crashed"),
            ours("off", "stopped"),
            ours("sim-tone", "running", "simulator"),
            ours("odd", "paused"),
        ]
    )
    by_id = {s["instance_id"]: s for s in states}
    assert list(by_id) == ["up", "retry", "loop", "dead", "off", "sim-tone", "odd"]
    seen = {k: (s["next_action"], s["target_state"], s["stability"]) for k, s in by_id.items()}
    assert seen == {
        "up": ("up", "up", 1.0),
        "retry": ("start_at", "up", 1.0),
        "loop": ("start_at", "up", 0.0),  # ocsbow: "unstable"
        "dead": ("down", "up", 0.0),
        "off": ("down", "down", 1.0),
        "sim-tone": ("up", "up", 1.0),
        "odd": ("?", "?", 1.0),
    }
    assert by_id["up"]["agent_class"] == "FakeData"
    assert by_id["sim-tone"]["agent_class"] == "[simulator]"
    assert [k for k, s in by_id.items() if not s["operable"]] == ["odd"]
    assert not any(s["restart_required"] for s in states)


REQUESTS = [
    [],
    [("fd1", "down")],
    [("all", "up"), ("fd2", "down")],
    [("fd2", "down"), ("all", "up")],
    [("fd1", "up"), ("fd1", "down")],
    [("nope", "up"), ("fd1", "sideways"), ("fd2", "up")],
    [["fd1", "down"]],  # JSON has no tuples: a pair arrives as a list
]


# Real OCS's HostManager sets targets from the same requests; it runs in a process of its own,
# as OCS's modules choose txaio's framework (Twisted) when imported and ours chose asyncio.
OCS_TARGETS = """
import json, sys
from ocs.agents.host_manager.agent import HostManager
from ocs.agents.host_manager.drivers import ManagedInstance

class Session:
    def __init__(self):
        self.messages = []

    def add_message(self, text):
        self.messages.append(text)

known, cases = json.load(sys.stdin)
answers = []
for requests in cases:
    hm = HostManager(agent=None)
    hm.database = {
        i: ManagedInstance(
            management="host", agent_class="X", instance_id=i, full_name=i, target_state="unset"
        )
        for i in known
    }
    session = Session()
    hm._process_target_states(session, requests)
    targets = {i: m.target_state for i, m in hm.database.items() if m.target_state != "unset"}
    answers.append([targets, session.messages])
json.dump(answers, sys.stdout)
"""


@pytest.fixture(scope="module")
def ocs_targets() -> list[list[Any]]:
    done = subprocess.run(
        [sys.executable, "-c", OCS_TARGETS],
        input=json.dumps([KNOWN, REQUESTS]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers: list[list[Any]] = json.loads(done.stdout)
    return answers


@pytest.mark.parametrize("case", range(len(REQUESTS)))
def test_plan_sets_the_targets_real_ocs_sets(case, ocs_targets):
    targets, messages = ocs_targets[case]
    p = plan(parse_requests(REQUESTS[case]), KNOWN)
    assert p.targets == targets
    assert p.ignored == messages


def test_plan_requests_for_our_supervisor():
    p = plan([("all", "up"), ("fd2", "down")], KNOWN)
    assert p.requests() == [("start", "fd1"), ("stop", "fd2"), ("start", "sim-tone")]


@pytest.mark.parametrize(
    ("requests", "error"),
    [
        ([("fd1",)], r"each request must be \(instance_id, 'up'\|'down'\), not \('fd1',\)"),
        ([("fd1", "up", "now")], r"not \('fd1', 'up', 'now'\)"),
        ([("fd1", 1)], r"not \('fd1', 1\)"),
        ([("fd1", "up"), "fd2"], r"not 'fd2'"),
    ],
)
def test_malformed_requests_are_refused_whole(requests, error):
    with pytest.raises(BadRequests, match=error):
        parse_requests(requests)
