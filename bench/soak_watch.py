"""What the soak harness sees of the site while it runs: through the hub, and in /proc.

`Watcher` is one client of the hub subscribed to every feed of every agent
(``<root>..feeds.``, as the recorders subscribe), re-subscribing whenever it gets the hub
back. It keeps:

- every heartbeat's ``loop_lag_ms`` per agent, with its time;
- every recorded feed's events: the record numbers (``seq_no``, ``seq_count``) and, per block,
  the timestamps of the samples — what the ledger holds against the HDF5 files and InfluxDB;
- the last session data of each operation of each agent *process* (a restarted agent starts
  its counters again: keyed by the session's start time), for the counters the ledger reads;
- when it lost and got back the hub itself.

`Sampler` reads the supervisor's list every few seconds (pids, restarts) and the resident
memory of every child from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from soak_site import SoakSite

from socs_like.client import AsyncClient, ClientError
from socs_like.testing.procs import rss_kib


@dataclass
class FeedLog:
    """One recorded feed as the watcher received it."""

    address: str  # the agent's address
    feed: str
    agg_params: dict[str, Any] = field(default_factory=dict)
    # (seq_no, seq_count, received, first sample time, last sample time) per event
    events: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, payload: Any, info: dict[str, Any], received: float) -> None:
        if isinstance(info.get("agg_params"), dict):
            self.agg_params = info["agg_params"]
        stamps: list[float] = []
        if isinstance(payload, dict):
            for name, block in payload.items():
                if isinstance(block, dict) and isinstance(block.get("timestamps"), list):
                    ts = [float(t) for t in block["timestamps"]]
                    self.samples[str(block.get("block_name", name))].extend(ts)
                    stamps += ts
        seq = info.get("seq_no")
        if isinstance(seq, int):
            first, last = (min(stamps), max(stamps)) if stamps else (received, received)
            self.events.append((seq, int(info.get("seq_count") or 1), received, first, last))


Sessions = dict[tuple[str, str, float], dict[str, Any]]


def session_data(sessions: Sessions, instance: str, op_name: str) -> list[dict[str, Any]]:
    """The last data of each run of `op_name` on `instance` (one per process), oldest
    first."""
    runs = sorted(
        (start, s) for (i, op, start), s in sessions.items() if (i, op) == (instance, op_name)
    )
    return [s.get("data") or {} for _, s in runs]


class Watcher:
    def __init__(self, site: SoakSite) -> None:
        self.site = site
        self.prefix = f"{site.address_root}."
        self.lags: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.feeds: dict[tuple[str, str], FeedLog] = {}
        # (instance, op_name, session start_time) -> last session dict
        self.sessions: Sessions = {}
        self.away: list[list[float]] = []  # [lost, back] of the watcher's own hub link
        self.started = time.time()
        self._client = AsyncClient.from_site("soak-watcher", str(site.site_file), timeout=5.0)

    def _event(self, payload: Any, info: dict[str, Any]) -> None:
        now = time.time()
        address = str(info.get("agent_address", ""))
        feed = str(info.get("feed_name", ""))
        instance = address.removeprefix(self.prefix)
        if feed == "heartbeat":
            lag = info.get("loop_lag_ms")
            if isinstance(lag, (int, float)):
                self.lags[instance].append((float(info.get("time") or now), float(lag)))
        elif feed == "sessions":
            if isinstance(payload, dict) and "op_name" in payload:
                key = (instance, str(payload["op_name"]), float(payload.get("start_time") or 0))
                self.sessions[key] = payload
        elif info.get("record"):
            log = self.feeds.get((address, feed))
            if log is None:
                log = self.feeds[(address, feed)] = FeedLog(address, feed)
            log.add(payload, info, now)

    def session_data(self, instance: str, op_name: str) -> list[dict[str, Any]]:
        """The last data of each run of `op_name` on `instance` (one per process), oldest
        first."""
        runs = sorted(
            (start, s)
            for (i, op, start), s in self.sessions.items()
            if i == instance and op == op_name
        )
        return [s.get("data") or {} for _, s in runs]

    async def run(self) -> None:
        """Follow the hub until cancelled, reconnecting while it is away."""
        while True:
            try:
                await self._client.subscribe(f"{self.prefix}.feeds.", self._event, match="wildcard")
                if self.away and len(self.away[-1]) == 1:
                    self.away[-1].append(time.time())
                while self._client.connected:
                    await asyncio.sleep(0.5)
            except ClientError:
                pass
            if not self.away or len(self.away[-1]) == 2:
                self.away.append([time.time()])
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.close()


@dataclass
class Sample:
    time: float
    pid: int | None
    rss_kib: int | None
    restarts: int
    state: str


class Sampler:
    """The supervisor's list and each child's RSS, every `period` s."""

    def __init__(self, site: SoakSite, period: float = 5.0) -> None:
        self.site = site
        self.period = period
        self.series: dict[str, list[Sample]] = defaultdict(list)
        self.states: dict[str, dict[str, Any]] = {}

    async def once(self) -> dict[str, dict[str, Any]]:
        states = await self.site.states()
        now = time.time()
        for name, s in states.items():
            pid = s.get("pid")
            rss = rss_kib(pid) if pid else None
            self.series[name].append(Sample(now, pid, rss, int(s["restarts"]), str(s["state"])))
        self.states = states
        return states

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # the supervisor busy or away: next time
                await self.once()
            await asyncio.sleep(self.period)

    def pid(self, name: str) -> int | None:
        state = self.states.get(name) or {}
        return state.get("pid")
