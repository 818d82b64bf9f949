"""A real `socs-like web` process on a test hub."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from socs_like.testing.hub import HubInfo
from socs_like.web.process import DashboardProcess


@pytest.fixture
def web(hub: HubInfo, tmp_path: Path) -> Iterator[Callable[..., DashboardProcess]]:
    """``web(*args, on=hub)`` -> a dashboard connected to a hub; stopped after the test."""
    started: list[DashboardProcess] = []

    def start(*args: str, on: HubInfo | None = None) -> DashboardProcess:
        log = tmp_path / f"web{len(started)}.log"
        started.append(DashboardProcess.start((on or hub).site_file, log, *args))
        return started[-1]

    yield start
    for dashboard in started:
        dashboard.stop()
