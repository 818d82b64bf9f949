"""The listening clients of bench_scale, in a process of their own (their events must not
slow the benchmark's own calls):

    python bench/_scale_listeners.py URL REALM ROOT CLIENTS SETTLE WINDOW

Each client subscribes to every topic under ROOT; after SETTLE s the counts start, after WINDOW
s more one JSON line is printed: events per client per second, heartbeat latency (receive time
minus the send time in our heartbeats' feed_info) and gaps between beats (s), the agents heard.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from typing import Any

from socs_like.client import AsyncClient


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


async def main(url: str, realm: str, root: str, clients: int, settle: float, window: float) -> None:
    listeners = [Listener() for _ in range(clients)]
    subs = [
        AsyncClient(f"listener{k}", hub_url=url, realm=realm, address_root=root, timeout=30)
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
    asyncio.run(main(url, realm, root, int(clients), float(settle), float(window)))
