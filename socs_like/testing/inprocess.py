"""Agents inside the test process, so op logic is tested without spawning a process.

- `AgentThread` runs an agent class against the real hub, on an event loop in a thread of
  its own (fixture `inprocess_agent`). The test calls it over the hub like any client, and
  also reaches the agent's objects directly (``.agent``, ``.instance``).
- `hubless_settings` are an agent's settings for a hub nobody serves: built with them, an
  `Agent` runs its ops, its beat and its feeds (buffered) while it keeps trying to join.
- `OpsDriver` calls an `Agent`'s ops handler with no hub at all (fixture `ops_driver`): the
  same code path the ops RPC takes, access check included (as a controller unless told
  otherwise), answered with the same ``[code, message, session]``.

Both build the agent exactly as ``socs-like agent`` does (`socs_like.runner.parse_agent_args`),
so arguments, defaults and the site config are read the same way. Neither installs Twisted's
reactor (a process has one, and the test process may need it elsewhere): agents that use
Twisted protocols (UDP listeners, say) are tested as processes (`spawn_agent`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from socs_like.agent import Agent
from socs_like.client import AsyncClient, Reply, run_sync, wait_for_agent
from socs_like.runner import parse_agent_args
from socs_like.site_config import AgentSettings

from .hub import HubInfo
from .util import free_port

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread; `run` hands it a coroutine and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def build_agent(class_name: str | type, argv: list[str]) -> tuple[Agent, Any]:
    """(Agent, the agent class's object) for a command line, as ``socs-like agent`` builds
    them; call it on the loop that will run the agent."""
    cls, options, settings, _verbose = parse_agent_args(argv, class_name)
    agent = Agent(settings, agent_class=cls.__name__, options=options)
    return agent, cls(agent, options)


def hubless_settings(instance_id: str, crossbar_timeout: float = 0) -> AgentSettings:
    """Settings whose hub is a loopback port nobody listens on."""
    port = free_port()
    return AgentSettings(
        instance_id=instance_id,
        agent_class=None,
        hub_url=f"ws://127.0.0.1:{port}/ws",
        http_url=f"http://127.0.0.1:{port}/call",
        realm="test_realm",
        address_root="observatory",
        log_dir=None,
        crossbar_timeout=crossbar_timeout,
        arguments=[],
    )


class AgentThread:
    """One agent served from this process until `stop`."""

    def __init__(self, class_name: str | type, argv: list[str]) -> None:
        self._runner = _LoopThread(f"agent-{class_name}")
        self.agent, self.instance = self._runner.run(self._build(class_name, argv))
        self._done = asyncio.run_coroutine_threadsafe(self.agent.run(), self._runner.loop)

    @staticmethod
    async def _build(class_name: str | type, argv: list[str]) -> tuple[Agent, Any]:
        return build_agent(class_name, argv)

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run `func(*args)` on the agent's loop (the agent's objects are not thread-safe)."""
        self._runner.loop.call_soon_threadsafe(func, *args)

    def stop(self, timeout: float = 10.0) -> int:
        """Shut the agent down as SIGTERM would; returns its exit code."""
        self.call_soon(self.agent.shutdown)
        code = self._done.result(timeout)
        self._runner.close()
        return code


class OpsDriver:
    """Start, wait for, abort and ask after an agent's ops with no hub: ``driver("start",
    "delay_task", {"delay": 0})`` returns the `Reply` the ops RPC would send to a caller of
    role `role` (and OCS-style `password`)."""

    def __init__(self, class_name: str | type, argv: list[str]) -> None:
        self._runner = _LoopThread(f"ops-{class_name}")
        self.agent, self.instance = self._runner.run(AgentThread._build(class_name, argv))

    def __call__(
        self,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        role: str = "controller",
        password: str | None = None,
    ) -> Reply:
        async def call() -> list[Any]:
            answer = self.agent.ops_handler(
                action, op_name, params, timeout, password, authrole=role
            )
            return await answer if inspect.isawaitable(answer) else answer

        code, message, session = self._runner.run(call(), (timeout or 0) + 30)
        return Reply(code, message, session)

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` run on the agent's loop (as a feed handler would be), its result."""

        async def call() -> T:
            return func(*args)

        return self._runner.run(call())

    def run_task(self, op_name: str, **params: Any) -> Reply:
        """Start a task and wait until it is done."""
        started = self("start", op_name, params)
        if started.status != 0:
            return started
        return self("wait", op_name)

    def close(self) -> None:
        self._runner.close()


def _argv(hub: HubInfo, instance_id: str, args: tuple[str, ...]) -> list[str]:
    return ["--site-file", str(hub.site_file), "--instance-id", instance_id, *args]


@pytest.fixture
def inprocess_agent(hub: HubInfo) -> Iterator[Callable[..., AgentThread]]:
    """``inprocess_agent("FakeData", "fd1", "--mode", "x")`` -> an `AgentThread` on the hub,
    callable once this returns; stopped at the end of the test."""
    started: list[AgentThread] = []

    def start(class_name: str | type, instance_id: str, *args: str) -> AgentThread:
        thread = AgentThread(class_name, _argv(hub, instance_id, args))
        started.append(thread)
        client = AsyncClient(instance_id, hub_url=hub.url, realm=hub.realm)
        run_sync(wait_for_agent(client, 30))
        run_sync(client.close())
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
def ops_driver(tmp_path: Path) -> Iterator[Callable[..., OpsDriver]]:
    """``ops_driver("FakeData", "--mode", "x")`` -> an `OpsDriver` (no hub, no site config)."""
    drivers: list[OpsDriver] = []
    site_file = tmp_path / "no-site.yaml"
    site_file.write_text("hub: {}\nhosts: {}\n")

    def make(class_name: str | type, *args: str) -> OpsDriver:
        argv = ["--site-file", str(site_file), "--instance-id", "under-test", *args]
        driver = OpsDriver(class_name, argv)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.close()
