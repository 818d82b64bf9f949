"""`socs-like host list`'s table on an 80-column terminal: instance ids are never cut."""

from __future__ import annotations

import io

from rich.console import Console

from socs_like_agents.host_manager.cli import table

LONG = "pysmurf-monitor-crate3-slot5"  # fits with the other columns wrapped
HUGE = "smurf-crate-3-slot-5-pysmurf-monitor-ufm-mv27-and-then-some"  # does not


def instance(instance_id: str) -> dict:
    return {
        "instance_id": instance_id,
        "class": "PysmurfMonitor",
        "state": "running",
        "pid": 12345,
        "uptime": 3725.0,
        "restarts": 2,
        "policy": "always",
        "last_line": "Traceback: something went wrong in a long line of text",
        "last_exit": 1,
        "retry_in": None,
    }


def render(*ids: str) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=80, color_system=None, force_terminal=False).print(
        table("localhost", {i: instance(i) for i in ids})
    )
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    return lines


def first_cells(lines: list[str]) -> list[str]:
    return [line.split("│")[1].strip() for line in lines if line.startswith("│")]


def test_a_long_id_is_shown_whole_on_one_line_and_other_columns_wrap():
    lines = render("hm-localhost", LONG)
    cells = first_cells(lines)
    assert LONG in cells and "hm-localhost" in cells
    assert "…" not in "".join(lines)  # nothing cut: the other columns wrapped instead


def test_an_id_wider_than_the_terminal_allows_folds_but_keeps_every_character():
    assert "".join(c for c in first_cells(render(HUGE)) if c) == HUGE
