"""What RunPipeline puts in its operations' session data (typed, so a reader can rely on it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(kw_only=True)
class PassesData:
    """``transfer``, ``process``, ``archive``: what the loop does now (``idle``, ``working``,
    why it waits, or ``error: ...``), its last pass's report, how many passes it made and how
    many failed."""

    activity: str = "starting"
    last_pass: dict[str, Any] | None = None
    passes: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class MonitorData:
    """``monitor``: runs per status, and the last event of the runs' log put on the feed."""

    counts: dict[str, int]
    last_event: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RunsListing:
    """``list_runs``: the runs asked for (every column), and runs per status."""

    runs: list[dict[str, Any]]
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class TagsData:
    """``tag``: the run's tags afterwards."""

    tags: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
