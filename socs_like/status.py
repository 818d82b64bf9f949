"""What `socs-like status` shows, built from agents' get_api answers (no I/O here).

The overview has one row per agent and fits an 80-column terminal: class, heartbeat age,
the operations running, and the last failure of any operation (the thing an operator woken
at night needs first). ``socs-like status ID`` lists every operation of one agent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

# A heartbeat older than this (the agents beat once a second) is shown in red.
STALE_HEARTBEAT = 5.0
# The Registry refreshes what it saw once a second: an agent it saw beat this recently needs
# no wait for its next heartbeat.
FRESH_SIGHTING = 2.0
# The overview's last-failure column shrinks to this before other columns give way.
MIN_FAILURE_WIDTH = 12


@dataclass(frozen=True)
class AgentView:
    """One agent as the status command saw it: its get_api answer, or why there was none."""

    instance_id: str
    api: dict[str, Any] | None
    error: str = ""
    heartbeat_age: float | None = None  # seconds since its last heartbeat; None: none seen


def beats_to_wait_for(
    views: list[AgentView], sightings: Mapping[str, float], now: float
) -> set[str]:
    """The agents whose next heartbeat is worth waiting for: those that answered get_api (one
    that did not is stopped or frozen: no beat will come) and that the Registry did not see
    beat within FRESH_SIGHTING seconds (``sightings``: instance id -> UNIX time)."""
    return {
        v.instance_id
        for v in views
        if v.api is not None
        and (v.instance_id not in sightings or now - sightings[v.instance_id] > FRESH_SIGHTING)
    }


def _sessions(api: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, kind, session)
        for kind in ("tasks", "processes")
        for name, session, _info in api.get(kind, [])
    ]


def _last_message(session: dict[str, Any]) -> str:
    # the closing 'Status is now "done".' says nothing: show the outcome before it
    texts = [text for _, text in session.get("messages") or []]
    while texts and texts[-1].startswith("Status is now"):
        texts.pop()
    return texts[-1] if texts else ""


def _beat(age: float | None) -> str:
    if age is None:
        return "—"
    text = f"{age:.0f} s" if age >= 1 else "<1 s"
    return f"[red]{text}" if age > STALE_HEARTBEAT else text


def registry_beats(main_data: dict[str, Any], address_root: str) -> dict[str, float]:
    """Instance id -> UNIX time of its last heartbeat, from a Registry's ``main`` session
    data (one entry per agent address)."""
    prefix = f"{address_root}."
    return {
        address.removeprefix(prefix): float(state["last_updated"])
        for address, state in main_data.items()
        if address.startswith(prefix) and isinstance(state, dict) and state.get("last_updated")
    }


def last_failure(api: dict[str, Any]) -> str:
    """``op: message`` of the operation that failed most recently, or ''."""
    failed = [
        (session.get("end_time") or 0, name, session)
        for name, _kind, session in _sessions(api)
        if session.get("success") is False
    ]
    if not failed:
        return ""
    _, name, session = max(failed, key=lambda f: f[0])
    return f"{name}: {_last_message(session)}"


def overview(agents: list[AgentView], title: str, width: int = 80) -> Table:
    """One row per agent. The agent column is as wide as the longest instance id, never cut:
    an id is what the operator types next. The next three columns are as wide as their text
    (up to a cap) and the last failure gets the rest, cut with an ellipsis rather than
    wrapped; when ids leave too little room, ``running`` then ``class`` give way first."""
    rows = []
    for view in agents:
        if view.api is None:
            # a frozen process answers nothing, but how long it has been silent says why
            beat = "" if view.heartbeat_age is None else _beat(view.heartbeat_age)
            rows.append((view.instance_id, "", beat, "[red]not answering", view.error))
            continue
        running = [n for n, _k, s in _sessions(view.api) if s.get("status") == "running"]
        rows.append(
            (
                view.instance_id,
                view.api.get("agent_class", ""),
                _beat(view.heartbeat_age),
                ", ".join(running) or "idle",
                last_failure(view.api),
            )
        )
    table = Table(title=title, title_justify="left", pad_edge=False)
    caps = {"class": 14, "beat": 5, "running": 16}
    id_width = max([len("agent"), *(len(view.instance_id) for view in agents)])
    widths = {
        name: min(cap, max([len(name), *(Text.from_markup(row[i]).cell_len for row in rows)]))
        for i, (name, cap) in enumerate(caps.items(), start=1)
    }
    # what is left of `width` after the id, the columns above, their padding (none at the
    # table's edges) and the borders
    room = width - id_width - (3 * (len(caps) + 1) + 2)
    for name in ("running", "class"):
        short = MIN_FAILURE_WIDTH - (room - sum(widths.values()))
        if short > 0:
            widths[name] -= min(short, widths[name] - len(name))
    # An id too long for any of this folds onto a second line (rich's last resort) rather
    # than being cut.
    table.add_column("agent", width=id_width, overflow="fold")
    for name, column_width in widths.items():
        table.add_column(
            name,
            no_wrap=True,
            width=column_width,
            overflow="ellipsis",
            justify="right" if name == "beat" else "left",
        )
    rest = max(1, room - sum(widths.values()))
    table.add_column("last failure", no_wrap=True, overflow="ellipsis", width=rest)
    for row in rows:
        table.add_row(*row)
    return table


def operations(view: AgentView, now: float | None = None) -> Table:
    """Every operation of one agent with its current session."""
    now = time.time() if now is None else now
    api = view.api or {}
    table = Table(
        title=f"{view.instance_id} ({api.get('agent_class', '?')}), "
        f"heartbeat {_beat(view.heartbeat_age)}",
        title_justify="left",
        pad_edge=False,
    )
    table.add_column("operation", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("for", no_wrap=True, justify="right")
    table.add_column("last message", overflow="fold", ratio=1)
    for name, kind, session in _sessions(api):
        status = session.get("status") or "no_history"
        if status == "no_history":
            status = "never run"
        if session.get("success") is False:
            status = "[red]failed"
        elif status == "running":
            status = "[green]running"
        start, end = session.get("start_time"), session.get("end_time")
        took = "" if not start else f"{(end or now) - start:.1f} s"
        table.add_row(
            name, kind[:-1] if kind == "tasks" else "process", status, took, _last_message(session)
        )
    return table
