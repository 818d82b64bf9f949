"""What the DataGrabber shows (sans-I/O): the typed session data of its ops, the ``(ok,
message)`` a grab ends with, and the ``stats`` feed's samples of a distilled file.

Each session-data model is a frozen dataclass whose :meth:`as_dict` is the JSON-ready form
put in ``session.data``; the README lists them. Times are UTC epoch seconds.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from .grab import GrabReport
from .stats import INTERVAL_PREFIX, FileStats


class _Model:
    def as_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))  # every subclass is a dataclass


@dataclass(frozen=True, kw_only=True)
class ProgressCounts(_Model):
    done: int  # devices or event codes asked so far
    total: int
    current: str  # the one just finished


@dataclass(frozen=True, kw_only=True)
class GrabProgress(_Model):
    """A grab's session data while it runs (the scheduler's too, during a scheduled run)."""

    kind: str  # params | events
    progress: ProgressCounts


@dataclass(frozen=True, kw_only=True)
class GrabReports(_Model):
    """Added to a grab's session data when it ends: one entry per file."""

    reports: list[GrabReport]

    def as_dict(self) -> dict[str, Any]:
        return {"reports": [r.to_dict() for r in self.reports]}


@dataclass(frozen=True, kw_only=True)
class PlotPage(_Model):
    """``export_plots``' session data; a parameter grab adds it too (the page it rebuilt)."""

    page: str


@dataclass(frozen=True, kw_only=True)
class Distilled(_Model):
    """``distill``'s session data."""

    file: str
    window_start: int
    rows: int  # statistics stored
    params: int  # parameters they are of (devices and their Interval_ entries)


@dataclass(frozen=True, kw_only=True)
class RunOutcome(_Model):
    due: float
    ok: bool
    message: str


@dataclass(kw_only=True)
class SchedulerStatus(_Model):
    """The ``scheduler`` process's session data: runs made since it started, the last run of
    each schedule, and each schedule's next due time."""

    runs: int = 0
    last: dict[str, RunOutcome] = field(default_factory=dict)
    next: dict[str, float] = field(default_factory=dict)

    def ran(self, name: str, due: float, ok: bool, message: str) -> None:
        self.runs += 1
        self.last[name] = RunOutcome(due=due, ok=ok, message=message)


@dataclass(frozen=True, kw_only=True)
class TimelineStatus(_Model):
    """The ``timeline`` process's session data: the logger running now."""

    pid: int
    restarts: int
    outdir: str


def outcome(reports: list[GrabReport]) -> tuple[bool, str]:
    """A grab's result: ok when no device stayed missing; the files' summaries."""
    return all(not r.missing for r in reports), "; ".join(r.summary() for r in reports)


def feed_blocks(stats: FileStats) -> list[dict[str, Any]]:
    """The ``stats`` feed's samples of a file: one block per device, named as the device with
    every character but letters, digits and ``_`` as ``_`` (``B:VIMIN`` is ``B_VIMIN``), at the
    window's start; its interval statistics are the block's ``interval_<stat>`` fields."""
    by_param: dict[str, dict[str, float]] = {}
    for r in stats.rows:
        by_param.setdefault(r.param, {})[r.stat] = r.value
    blocks = []
    for name, values in by_param.items():
        if name.startswith(INTERVAL_PREFIX):
            continue
        data = dict(values)
        for stat, v in by_param.get(INTERVAL_PREFIX + name, {}).items():
            data[f"interval_{stat}"] = v
        blocks.append(
            {
                "block_name": re.sub(r"[^A-Za-z0-9_]", "_", name),
                "timestamp": float(stats.window_start),
                "data": data,
            }
        )
    return blocks
