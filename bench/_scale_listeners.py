"""The listening clients of bench_scale, in a process of their own (their events must not
slow the benchmark's own calls):

    python bench/_scale_listeners.py URL REALM ROOT CLIENTS SETTLE WINDOW [KIND]

KIND "ours" (the default): our `AsyncClient`s (RawSocket, msgpack); "ocs": plain autobahn
sessions over WebSocket with autobahn's default serializers, as OCS's own subscribers (its
agents' sessions) are. Each client subscribes to every topic under ROOT; after SETTLE s the
counts start, after WINDOW s more one JSON line is printed: events per client per second,
heartbeat latency (receive time minus the send time in our heartbeats' feed_info) and gaps
between beats (s), the agents heard.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.types import ComponentConfig, SubscribeOptions

from socs_like.client import AsyncClient
from socs_like.feed import feed_event


class Listener:
    def __init__(self) -> None:
        self.counting = False
        self.events = 0
        self.beats: dict[str, list[float]] = {}
        self.latency: list[float] = []

    def __call__(self, payload: Any, feed_info: dict[str, Any]) -> None:
        if not self.counting:
            return
        now = time.time()
        self.events += 1
        if feed_info.get("feed_name") == "heartbeat":
            self.beats.setdefault(feed_info.get("agent_address", "?"), []).append(now)
            if "time" in feed_info:
                self.latency.append(now - feed_info["time"])


class OcsListener:
    """A subscriber as OCS's are: an autobahn session over WebSocket."""

    def __init__(self, url: str, realm: str) -> None:
        self.url, self.realm = url, realm
        self.session: ApplicationSession | None = None

    @property
    def connected(self) -> bool:
        return self.session is not None and self.session.is_attached()

    async def subscribe(self, topic: str, listener: Listener, match: str) -> None:
        loop = asyncio.get_running_loop()
        joined: asyncio.Future[ApplicationSession] = loop.create_future()

        class Session(ApplicationSession):
            def onJoin(self, details: Any) -> None:
                joined.set_result(self)

        factory = WampWebSocketClientFactory(lambda: Session(ComponentConfig(self.realm)), self.url)
        parsed = urlparse(self.url)
        await loop.create_connection(factory, parsed.hostname, parsed.port)
        self.session = await asyncio.wait_for(joined, 30)
        await self.session.subscribe(
            lambda *args: listener(*feed_event(args)), topic, SubscribeOptions(match=match)
        )

    async def close(self) -> None:
        if self.connected:
            assert self.session is not None
            self.session.leave()
            await asyncio.sleep(0.1)


async def main(
    url: str, realm: str, root: str, clients: int, settle: float, window: float, kind: str
) -> None:
    listeners = [Listener() for _ in range(clients)]
    subs = [
        AsyncClient(f"listener{k}", hub_url=url, realm=realm, address_root=root, timeout=30)
        if kind == "ours"
        else OcsListener(url, realm)
        for k in range(clients)
    ]
    for sub, listener in zip(subs, listeners, strict=True):
        await sub.subscribe(f"{root}.", listener, match="prefix")
    await asyncio.sleep(settle)
    for listener in listeners:
        listener.counting = True
    await asyncio.sleep(window)
    for listener in listeners:
        listener.counting = False
    gaps = [
        b - a
        for listener in listeners
        for beats in listener.beats.values()
        for a, b in itertools.pairwise(beats)
    ]
    print(
        json.dumps(
            {
                "events_per_client_s": sum(x.events for x in listeners) / clients / window,
                "latency": [x for listener in listeners for x in listener.latency],
                "gaps": gaps,
                "heard": min(len(x.beats) for x in listeners),
                "connected": sum(1 for s in subs if s.connected),
            }
        ),
        flush=True,
    )
    for sub in subs:
        await sub.close()


if __name__ == "__main__":
    url, realm, root, clients, settle, window = sys.argv[1:7]
    kind = sys.argv[7] if len(sys.argv) > 7 else "ours"
    asyncio.run(main(url, realm, root, int(clients), float(settle), float(window), kind))
