"""A real `socs-like web` process on a test hub, and logins as the hub's users."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from socs_like.secrets import load_secrets
from socs_like.testing.hub import HubInfo
from socs_like.web.process import DashboardProcess

TIMEOUT = 15_000  # ms: generous, the machine is shared


@pytest.fixture
def web(hub: HubInfo, tmp_path: Path) -> Iterator[Callable[..., DashboardProcess]]:
    """``web(*args, on=hub)`` -> a dashboard connected to a hub (forked from the launcher,
    as ``up`` starts it); stopped after the test."""
    started: list[DashboardProcess] = []

    def start(*args: str, on: HubInfo | None = None) -> DashboardProcess:
        log = tmp_path / f"web{len(started)}.log"
        started.append(DashboardProcess.start((on or hub).site_file, log, *args, fork=True))
        return started[-1]

    yield start
    for dashboard in started:
        dashboard.stop()


@pytest.fixture
def secret_of(hub: HubInfo) -> Callable[[str], str]:
    """``secret_of("controller")``: a user's secret in the test session's secrets file (the
    users `socs-like secrets init` writes: observer, controller, admin)."""
    users = load_secrets(hub.secrets_file).users
    return lambda user: users[user].secret


@pytest.fixture
def api_login(secret_of) -> Callable[[DashboardProcess, str], dict[str, str]]:
    """``api_login(w, "controller")``: log the dashboard's API client in as that user."""

    def log_in(dashboard: DashboardProcess, user: str = "controller") -> dict[str, str]:
        status, answer = dashboard.login(user, secret_of(user))
        assert status == 200, answer
        return answer["login"]

    return log_in


@pytest.fixture
def page_login(secret_of) -> Callable[[Page, str], None]:
    """``page_login(page, "controller")``: log in with the page's header form."""

    def log_in(page: Page, user: str = "controller") -> None:
        page.fill("#login-user", user)
        page.fill("#login-secret", secret_of(user))
        page.click("#login-button")
        expect(page.locator("#whoami")).to_have_text(f"{user} ({user})", timeout=TIMEOUT)

    return log_in
