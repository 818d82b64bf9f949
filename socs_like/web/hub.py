"""The dashboard's connection to the hub: one WAMP session, kept up, feeding `SiteState`.

One wildcard subscription (``<root>..feeds.``) brings every feed event of every agent:
heartbeats, pushed sessions (the registry's verdicts among them) and the data feeds, whose
counters the feed pages show. A hub that goes away is noticed within `check_every` seconds,
reported to the pages with the reason, and reconnected to with backoff; an agent is asked for
its get_api and sessions at its first heartbeat, so its operations are listed before they change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from socs_like.backoff import Backoff
from socs_like.client import AsyncClient, ClientError, Reply
from socs_like.secrets import Credentials

from .state import SiteState

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]


class HubLink:
    """Keeps the dashboard's hub session and turns what arrives into page events."""

    def __init__(
        self,
        state: SiteState,
        emit: Emit,
        *,
        site_config: str | None,
        hub_url: str,
        timeout: float = 5.0,
        check_every: float = 0.5,
        credentials: Credentials | None = None,
    ) -> None:
        self.state = state
        self.emit = emit
        self.hub_url = hub_url
        self.check_every = check_every
        # The dashboard's own session only watches (subscriptions, get_api, status): the
        # `--user` of `socs-like web`, an observer by default; None is this host's client user.
        # Operations go through each logged-in user's own session (`request`'s `client`).
        self.client = AsyncClient.from_site(
            "web", site_config, timeout=timeout, credentials=credentials
        )
        self.connected = False
        self.since = time.time()
        self.error = "not connected yet"
        self._api_tasks: set[asyncio.Task[None]] = set()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "since": self.since,
            "error": None if self.connected else self.error,
            "hub_url": self.hub_url,
            # The role of the dashboard's own session: observer unless `--user` says otherwise.
            "role": self.client.authrole if self.connected else None,
        }

    def _set(self, connected: bool, error: str) -> None:
        changed = connected != self.connected or error != self.error
        self.connected, self.error = connected, error
        if changed:
            self.since = time.time()
            self.emit("hub", self.status())

    async def run(self) -> None:
        """Connect, subscribe and watch the session until cancelled."""
        backoff = Backoff(initial=0.5, cap=5.0)
        while True:
            if not self.client.connected:
                if self.connected:
                    self._set(False, "lost the connection to the hub")
                try:
                    await self._connect()
                except ClientError as exc:
                    self._set(False, str(exc))
                    await asyncio.sleep(backoff.failure())
                    continue
                backoff.success()
                self._set(True, "")
            await asyncio.sleep(self.check_every)

    async def _connect(self) -> None:
        root = self.state.address_root
        await self.client.subscribe(f"{root}..feeds.", self._on_event, match="wildcard")
        # The agents alive now beat within a second and get_api is asked at the first beat;
        # the registry's push comes within a second too.

    def _on_event(self, payload: Any, info: dict[str, Any]) -> None:
        address, feed = info.get("agent_address"), info.get("feed_name")
        if not isinstance(address, str) or not isinstance(feed, str):
            return
        now = time.time()
        agent_class = str(info.get("agent_class") or "")
        if feed == "heartbeat":
            if self.state.heartbeat(address, payload, agent_class, now):
                self._fetch_api(address)
        elif feed == "sessions":
            event = self.state.session(address, agent_class, payload)
            if event is not None:
                self.emit("session", event)
        else:
            event = self.state.feed_event(address, feed, payload, info, now)
            if event is not None:
                self.emit("feed", event)

    def _fetch_api(self, address: str) -> None:
        task = asyncio.get_running_loop().create_task(self._seed(address))
        self._api_tasks.add(task)
        task.add_done_callback(self._api_tasks.discard)

    async def _seed(self, address: str) -> None:
        """get_api, then the whole session (with data) of every op that has one: a running
        op pushes its session only when it changes, and a panel should not wait for that."""
        with contextlib.suppress(ClientError):
            api = await self.client.call(address, "get_api")
            self.state.api(address, api)
            agent_class = str(api.get("agent_class") or "")
            for kind in ("tasks", "processes"):
                for name, summary, _info in api.get(kind, []):
                    if summary and summary.get("status") != "no_history":
                        _, _, session = await self.client.call(f"{address}.ops", "status", name)
                        event = self.state.session(address, agent_class, session)
                        if event is not None:
                            self.emit("session", event)

    async def get_api(self, instance_id: str) -> dict[str, Any]:
        address = f"{self.state.address_root}.{instance_id}"
        api: dict[str, Any] = await self.client.call(address, "get_api")
        self.state.api(address, api)
        return api

    async def request(
        self,
        instance_id: str,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        client: AsyncClient | None = None,
    ) -> Reply:
        """One ops call (start, stop, abort, status), answered at once by the agent; made with
        `client` (a logged-in user's session) when given, else with the watching session."""
        address = f"{self.state.address_root}.{instance_id}"
        caller = client or self.client
        code, message, session = await caller.call(f"{address}.ops", action, op_name, params)
        return Reply(code, message, session or {})

    async def close(self) -> None:
        for task in list(self._api_tasks):
            task.cancel()
        with contextlib.suppress(ClientError):
            await self.client.close()
