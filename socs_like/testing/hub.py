"""Fixtures: a real crossbar hub, real agent processes, clients and feed listeners.

Every test hub is authenticated as a real site is: the first hub of a test session writes a
secrets file and names it in ``$SOCS_LIKE_SECRETS``, so that every hub, agent process and
client of the session (which all read that variable) shares it without a word in the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from socs_like.client import AsyncClient, Client, ClientError, run_sync, wait_for_agent
from socs_like.hub import Hub
from socs_like.secrets import SECRETS_ENV, write_new_secrets
from socs_like.site_config import HubConfig

from .forked import ForkedProcess
from .util import free_port, wait_until

if TYPE_CHECKING:
    from .netns import Host


@dataclass
class HubInfo:
    """A running hub and a site config file that points at it."""

    hub: Hub
    site_file: Path
    realm: str = "test_realm"
    address_root: str = "observatory"

    @property
    def url(self) -> str:
        return self.hub.url

    @property
    def http_url(self) -> str:
        return self.hub.http_url

    @property
    def port(self) -> int:
        return self.hub.port

    @property
    def ca_file(self) -> str | None:
        return self.hub.config.ca_file

    @property
    def secrets_file(self) -> Path:
        return self.hub.secrets_file

    @property
    def log_file(self) -> Path:
        return self.site_file.parent / "crossbar.log"


def session_secrets(folder: Path) -> Path:
    """The test session's secrets file: made once, then named by ``$SOCS_LIKE_SECRETS``."""
    if not os.environ.get(SECRETS_ENV):
        path = folder / "secrets.yaml"
        write_new_secrets(path)
        os.environ[SECRETS_ENV] = str(path)
    return Path(os.environ[SECRETS_ENV])


def start_hub(
    folder: Path, port: int | None = None, host: str = "127.0.0.1", **settings: Any
) -> HubInfo:
    """A hub on a free port; `settings` are more `HubConfig` keys (``legacy``, ``tls``...).

    `host` is the address in its site config's URLs, which the hub listens on (another
    host's, see `socs_like.testing.netns`, is started from there); ``listen="0.0.0.0"``
    makes it listen on every address."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    scheme = "wss" if settings.get("tls") else "ws"
    config = HubConfig.model_validate(
        {
            "wamp_server": f"{scheme}://{host}:{port}/ws",
            "wamp_http": f"{scheme.replace('ws', 'http')}://{host}:{port}/call",
        }
        | settings
    )
    site_file = folder / "site-config.yaml"
    site_file.write_text(
        yaml.safe_dump(
            {
                "hub": config.model_dump(exclude_none=True),
                "hosts": {"localhost": {"agent-instances": []}},
            }
        )
    )
    hub = Hub(config, folder / "crossbar", port=port, secrets_file=session_secrets(folder))
    hub.start(log_file=folder / "crossbar.log")
    return HubInfo(hub=hub, site_file=site_file)


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubInfo]:
    """A crossbar hub shared by the whole test session."""
    info = start_hub(tmp_path_factory.mktemp("hub"))
    yield info
    info.hub.stop()


@pytest.fixture(scope="session")
def legacy_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubInfo]:
    """A hub with the legacy endpoint on loopback, for real OCS agents and clients (shared by
    the session): OCS agents may register there as ``ocs-fd`` and ``ocs-registry``; its main
    endpoint's HTTP bridge takes signed requests only."""
    info = start_hub(
        tmp_path_factory.mktemp("legacy-hub"),
        legacy={"port": free_port(), "agents": ["ocs-fd", "ocs-registry"]},
        http_bridge="signed",
    )
    yield info
    info.hub.stop()


@pytest.fixture
def private_hub(tmp_path: Path) -> Iterator[HubInfo]:
    """A hub of this test's own, to kill and restart."""
    info = start_hub(tmp_path / "private-hub")
    yield info
    info.hub.stop()


class AgentProcess:
    """A real agent process started with `socs-like agent` (with `fork`, forked from the
    launcher: `socs_like.testing.forked`); `run` runs its client's coroutines (another host's
    loop: `socs_like.testing.netns.Host.run`)."""

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        env: dict[str, str],
        client: AsyncClient,
        instance_id: str,
        run: Callable[[Coroutine[Any, Any, Any], float], Any] = run_sync,
        fork: bool = False,
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        self.instance_id = instance_id
        self._client = client
        self._run = run
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen[bytes] | ForkedProcess
        if fork and argv[:3] == PYTHON_M_SOCS_LIKE:
            self.process = ForkedProcess(argv[3:], self._log, env)
        else:
            self.process = subprocess.Popen(
                argv, stdout=self._log, stderr=subprocess.STDOUT, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_callable(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the agent answers get_api; fail with its output if it died."""
        deadline_error: Exception | None = None
        try:
            return dict(self._run(wait_for_agent(self._client, timeout), timeout + 5))
        except ClientError as exc:
            deadline_error = exc
        raise AssertionError(
            f"agent {self.instance_id} not callable ({deadline_error}); "
            f"exit code {self.returncode}; output:\n{self.output()}"
        )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait()
        self._log.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


PYTHON_M_SOCS_LIKE = [sys.executable, "-m", "socs_like"]


def agent_command(
    agent_class: str, instance_id: str, site_file: Path, args: list[str]
) -> list[str]:
    return [
        *PYTHON_M_SOCS_LIKE,
        "agent",
        agent_class,
        "--instance-id",
        instance_id,
        "--site-file",
        str(site_file),
        *args,
    ]


def spawn_agent(
    hub: HubInfo,
    agent_class: str,
    instance_id: str,
    log_path: Path,
    args: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    wait: bool = True,
    run: Callable[[Coroutine[Any, Any, Any], float], Any] = run_sync,
    fork: bool = False,
) -> AgentProcess:
    """Start one agent process on `hub`, with `fork` forked from the launcher; with `wait`,
    return once it answers get_api (asked through `run`, see `AgentProcess`)."""
    client = AsyncClient(instance_id, hub_url=hub.url, timeout=2.0, ca_file=hub.ca_file)
    proc = AgentProcess(
        agent_command(agent_class, instance_id, hub.site_file, list(args)),
        log_path,
        os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {}),
        client,
        instance_id,
        run,
        fork,
    )
    if wait:
        try:
            proc.wait_callable()
        except AssertionError:
            proc.kill()
            raise
    return proc


def spawn_agent_on(
    host: Host,
    hub: HubInfo,
    agent_class: str,
    instance_id: str,
    log_path: Path,
    args: list[str],
    started: dict[str, AgentProcess],
) -> AgentProcess:
    """`spawn_agent` on a host of `socs_like.testing.netns`: the process, and its client's
    calls, are that host's. It goes into `started` (for the caller to stop, whatever
    happens) before this waits until it answers."""
    proc: AgentProcess = host.call(
        spawn_agent, hub, agent_class, instance_id, log_path, args, wait=False, run=host.run
    )
    started[instance_id] = proc
    proc.wait_callable(30)
    return proc


@pytest.fixture
def run_agent(hub: HubInfo, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start real agent processes; all are stopped at the end of the test.

    ``run_agent(agent_class, instance_id, args=[...], env=None, wait=True, on=hub)``

    They are forked from the test process's launcher (`socs_like.testing.forked`), as ``up``
    starts agents: half a CPU-second less each than a plain process.
    """
    started: list[AgentProcess] = []

    def start(
        agent_class: str,
        instance_id: str,
        args: list[str] | tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        wait: bool = True,
        on: HubInfo | None = None,
    ) -> AgentProcess:
        log_path = tmp_path / f"{instance_id}.{len(started)}.log"
        proc = spawn_agent(
            on or hub, agent_class, instance_id, log_path, args, env, wait=False, fork=True
        )
        started.append(proc)
        if wait:
            proc.wait_callable()
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def make_client(hub: HubInfo) -> Iterator[Callable[..., Client]]:
    """``make_client(instance_id, transport="wamp", on=hub)`` -> an OCS-shaped `Client`."""
    clients: list[Client] = []

    def make(instance_id: str, on: HubInfo | None = None, **kwargs: Any) -> Client:
        client = Client(instance_id, site_config=str((on or hub).site_file), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(ClientError):
            client.close()


class FeedListener:
    """Collects a feed's events ``(payload, feed_info)`` as they arrive."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, dict[str, Any]]] = []
        self._cond = threading.Condition()

    def __call__(self, payload: Any, feed_info: dict[str, Any] | None = None) -> None:
        with self._cond:
            self.events.append((payload, feed_info or {}))
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[tuple[Any, dict[str, Any]]]], Any], timeout: float = 10.0
    ) -> Any:
        """Wait until `predicate(events)` is true; return its value."""
        return wait_until(lambda: predicate(list(self.events)), timeout, message="feed condition")


@pytest.fixture
def feed_listener(hub: HubInfo) -> Iterator[Callable[..., FeedListener]]:
    """``feed_listener(instance_id, feed_name, on=hub)`` -> a subscribed `FeedListener`."""
    clients: list[AsyncClient] = []

    def listen(instance_id: str, feed_name: str, on: HubInfo | None = None) -> FeedListener:
        target = on or hub
        client = AsyncClient(instance_id, hub_url=target.url, ca_file=target.ca_file)
        clients.append(client)
        listener = FeedListener()
        run_sync(client.subscribe(feed_name, listener), 15)
        return listener

    yield listen
    for client in clients:
        with contextlib.suppress(ClientError):
            run_sync(client.close(), 5)
