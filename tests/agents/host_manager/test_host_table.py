"""`socs-like host list`'s table on an 80-column terminal: instance ids are never cut."""

from __future__ import annotations

import io

from rich.console import Console

from socs_like_agents.host_manager.cli import table

LONG = "pysmurf-monitor-crate3-slot5"  # fits, the other columns at their width
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
    """The instance column's cells, row lines only (between the header rule and the end)."""
    header = next(line for line in lines if "instance" in line)
    width = header.index("state")
    rule = next(i for i, line in enumerate(lines) if "────" in line)
    rows = lines[rule + 1 : lines.index("last error lines:")]
    return [line[:width].strip() for line in rows if line.strip()]


def test_a_long_id_is_shown_whole_on_one_line_and_nothing_else_is_cut():
    lines = render("hm-localhost", LONG)
    assert first_cells(lines) == ["hm-localhost", LONG]
    header = next(line for line in lines if "instance" in line).split()
    assert header == ["instance", "state", "pid", "uptime", "restarts", "policy"]
    row = next(line for line in lines if line.startswith(f" {LONG} ")).split()
    assert row == [LONG, "running", "12345", "1:02:05", "2", "always"]
    # the error line, long by nature, has the full width under the table
    below = " ".join(lines[lines.index("last error lines:") + 1 :])
    assert f"{LONG} (exit 1): {instance(LONG)['last_line']}" in below
    assert "…" not in "".join(lines)


def test_an_id_wider_than_the_terminal_allows_folds_but_keeps_every_character():
    assert "".join(first_cells(render(HUGE))) == HUGE
