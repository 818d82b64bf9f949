"""The exact shape of `socs-like status` (rendering only; test_cli.py runs the command)."""

from __future__ import annotations

import io

from rich.console import Console

from socs_like.status import (
    FRESH_SIGHTING,
    AgentView,
    beats_to_wait_for,
    last_failure,
    operations,
    overview,
)


def render(table) -> list[str]:
    """The lines an 80-column terminal shows (rich pads the title line with spaces)."""
    out = io.StringIO()
    Console(file=out, width=80, color_system=None, force_terminal=False).print(table)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    return [line.rstrip() for line in lines]


def session(status: str, success: bool | None = None, *messages: str, start=None, end=None):
    return {
        "status": status,
        "success": success,
        "start_time": start,
        "end_time": end,
        "messages": [[0.0, m] for m in messages],
    }


IDLE = session("no_history")
FAILED = session(
    "done",
    False,
    "Starting the copy of every file in /data/timestreams/2026-11-29 to the archive host",
    "cannot start sshd: /usr/sbin/sshd not found",
    'Status is now "done".',
    start=100.0,
    end=102.5,
)
RUNNING = session("running", None, "sampling", start=50.0)

AGENTS = [
    AgentView(
        "fake-data1",
        {
            "agent_class": "FakeData",
            "tasks": [["delay_task", FAILED, {}]],
            "processes": [["acq", RUNNING, {}]],
        },
        heartbeat_age=0.4,
    ),
    AgentView(
        "registry",
        {"agent_class": "Registry", "tasks": [], "processes": [["main", IDLE, {}]]},
        heartbeat_age=12.0,
    ),
    AgentView("daq-worker-with-a-long-name", None, "no callee registered"),
]


def test_overview_is_one_row_per_agent_in_80_columns():
    assert render(overview(AGENTS, "observatory @ ws://127.0.0.1:8001/ws")) == [
        "observatory @ ws://127.0.0.1:8001/ws",
        "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓",
        "┃agent                       ┃ class    ┃ beat ┃ running       ┃ last failure  ┃",
        "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩",
        "│fake-data1                  │ FakeData │ <1 s │ acq           │ delay_task: c…│",
        "│registry                    │ Registry │ 12 s │ idle          │               │",
        "│daq-worker-with-a-long-name │          │      │ not answering │ no callee reg…│",
        "└────────────────────────────┴──────────┴──────┴───────────────┴───────────────┘",
    ]


def test_a_long_instance_id_is_never_cut_other_columns_give_way():
    long_id = "smurf-crate-3-slot-5-pysmurf-monitor-ufm-mv27"
    agents = [*AGENTS, AgentView(long_id, AGENTS[0].api, heartbeat_age=0.4)]
    lines = render(overview(agents, "observatory"))
    assert lines[-2] == f"│{long_id} │ Fake… │ <1 s │ acq     │ dela…│"
    assert lines[2] == f"┃{'agent':{len(long_id)}} ┃ class ┃ beat ┃ running ┃ last…┃"
    # an id longer than the terminal folds onto a second line: every character is shown
    huge = "x" * 50 + "y" * 40
    shown = "".join(
        line.split("│")[1].strip()
        for line in render(overview([AgentView(huge, None, "down")], "o"))
        if line.startswith("│")
    )
    assert shown == huge


def test_status_of_one_agent_lists_every_operation():
    assert render(operations(AGENTS[0], now=60.0)) == [
        "fake-data1 (FakeData), heartbeat <1 s",
        "┏━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
        "┃operation  ┃ kind    ┃ status  ┃    for ┃ last message                        ┃",
        "┡━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
        "│delay_task │ task    │ failed  │  2.5 s │ cannot start sshd: /usr/sbin/sshd   │",
        "│           │         │         │        │ not found                           │",
        "│acq        │ process │ running │ 10.0 s │ sampling                            │",
        "└───────────┴─────────┴─────────┴────────┴─────────────────────────────────────┘",
    ]


def test_the_last_failure_is_the_most_recent_one():
    earlier = session("done", False, "first", start=1.0, end=2.0)
    api = {
        "agent_class": "X",
        "tasks": [["a", FAILED, {}], ["b", earlier, {}]],
        "processes": [],
    }
    assert last_failure(api) == "a: cannot start sshd: /usr/sbin/sshd not found"
    assert last_failure({"tasks": [["b", IDLE, {}]]}) == ""


def test_status_waits_only_for_beats_that_can_come_and_that_it_has_no_fresh_word_of():
    """An agent that did not answer get_api (stopped, frozen) will not beat; one the Registry
    saw beat just now needs no second look. The rest get the wait."""
    api = {"agent_class": "FakeData", "tasks": [], "processes": []}
    views = [
        AgentView("seen-by-registry", api),
        AgentView("seen-long-ago", api),
        AgentView("registry-never-saw", api),
        AgentView("not-answering", None, "no callee registered"),
    ]
    now = 1000.0
    sightings = {
        "seen-by-registry": now - FRESH_SIGHTING + 0.5,
        "seen-long-ago": now - 30.0,
        "not-answering": now - 0.5,
    }
    assert beats_to_wait_for(views, sightings, now) == {"seen-long-ago", "registry-never-saw"}
    assert beats_to_wait_for(views[3:], {}, now) == set()
