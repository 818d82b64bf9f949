"""A site on two hosts (network namespaces), to see what a partition between them does.

`TwoHostSite.start` puts the hub, a FileRecorder, a Registry and a feed subscriber on host
``hub``, and a FakeData agent on host ``daq`` that reaches the hub at the hub host's address
only (its site config names that address, as a real site's does). FakeData acquires at
`rate` samples/s in 1 ms frames, so its recorded feed takes `rate` records/s. Clients run on
the hub host unless told otherwise. `partition` cuts the hosts apart silently (no socket
closes: the agent learns of it only when its pings time out), `heal` ends it, and the agent's
log says when it noticed and when it joined again.

The cross-host test (``tests/socs_like/test_hosts.py``) and ``bench/bench_partition.py`` run
this same site.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socs_like.client import AsyncClient, ClientError, Reply

from .hub import AgentProcess, FeedListener, HubInfo, spawn_agent_on, start_hub
from .netns import Host, Network
from .util import wait_until

DAQ_AGENT = "fd-daq"
RECORDER = "recorder"
REGISTRY = "registry"
FEED = "false_temperatures"
NOTICED = "lost the hub"  # what the agent logs when it notices the hub is gone
JOINED = "joined the hub"


def log_times(text: str, words: str) -> list[float]:
    """UNIX times of the agent log lines that hold `words` (logging's default ``asctime``:
    ``2025-01-02 03:04:05,678`` in local time)."""
    times = []
    for line in text.splitlines():
        if words in line:
            with contextlib.suppress(ValueError):
                stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                times.append(stamp.timestamp())
    return times


@dataclass(frozen=True)
class Outcome:
    """What reached whom, once acquisition stopped and everything was delivered."""

    sent: int  # samples the agent made (acq's samples_sent)
    records: int  # records its feed numbered
    dropped: int  # records its feed counted dropped
    fresh: list[dict[str, Any]]  # feed_info of the events the subscriber got, less repeats
    repeated: int  # events the subscriber got again, whole
    recorder: dict[str, Any]  # the recorder's session data at the end

    @property
    def gaps(self) -> list[int]:
        """Records between one event the subscriber got and the next (< 0: out of order)."""
        return [
            b["seq_no"] - a["seq_no"] - a["seq_count"] for a, b in itertools.pairwise(self.fresh)
        ]

    @property
    def missing(self) -> int:
        """Records neither received nor counted dropped."""
        return self.records - sum(int(i["seq_count"]) for i in self.fresh) - self.dropped


@dataclass
class TwoHostSite:
    network: Network
    hub_host: Host
    daq: Host
    hub: HubInfo
    folder: Path
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    listener: FeedListener = field(default_factory=FeedListener)
    _clients: dict[tuple[str, str], tuple[Host, AsyncClient]] = field(default_factory=dict)

    @classmethod
    def start(
        cls, network: Network, folder: Path, rate: float = 1000.0, **hub_settings: Any
    ) -> TwoHostSite:
        """`hub_settings` are more keys of the site config's ``hub:`` (``ping_interval``...)."""
        hub_host, daq = network.add_host("hub"), network.add_host("daq")
        hub = hub_host.call(start_hub, folder / "hub", 8001, hub_host.address, **hub_settings)
        site = cls(network, hub_host, daq, hub, folder)
        try:
            site._spawn(hub_host, "Registry", REGISTRY, [])
            site._spawn(
                hub_host,
                "FileRecorder",
                RECORDER,
                ["--data-dir", str(folder / "data"), "--flush-interval", "0.5"],
            )
            site._spawn(
                daq,
                "FakeData",
                DAQ_AGENT,
                ["--sample-rate", str(rate), "--frame-length", "0.001"],
            )
            hub_host.run(site.client(DAQ_AGENT).subscribe(FEED, site.listener), 15)
        except BaseException:
            site.close()
            raise
        return site

    def _spawn(self, host: Host, agent_class: str, instance_id: str, args: list[str]) -> None:
        log = self.folder / f"{instance_id}.log"
        spawn_agent_on(host, self.hub, agent_class, instance_id, log, args, self.agents)

    def client(self, instance_id: str, on: Host | None = None) -> AsyncClient:
        """The client of `instance_id` whose coroutines run on host `on` (the hub host)."""
        host = on or self.hub_host
        key = (host.name, instance_id)
        if key not in self._clients:
            self._clients[key] = (host, AsyncClient(instance_id, hub_url=self.hub.url, timeout=5.0))
        return self._clients[key][1]

    def request(
        self,
        instance_id: str,
        action: str,
        op_name: str,
        params: dict[str, Any] | None = None,
        on: Host | None = None,
    ) -> Reply:
        """One ops call from host `on` (the hub host)."""
        host = on or self.hub_host
        reply: Reply = host.run(self.client(instance_id, host).request(action, op_name, params), 30)
        return reply

    def get_api(self, instance_id: str, on: Host | None = None) -> dict[str, Any] | None:
        """The agent's get_api from host `on` (the hub host); None when it does not answer."""
        host = on or self.hub_host
        try:
            api: dict[str, Any] = host.run(self.client(instance_id, host).get_api(), 30)
        except ClientError:
            return None
        return api

    def feed_state(self) -> dict[str, Any]:
        api = self.get_api(DAQ_AGENT)
        assert api is not None, "the DAQ agent does not answer"
        return dict(dict(api["feeds"])[FEED])

    def registry_entry(self) -> dict[str, Any] | None:
        """What the registry says of the DAQ agent (``expired``...)."""
        data = self.request(REGISTRY, "status", "main").session.get("data") or {}
        entry: dict[str, Any] | None = data.get(f"{self.hub.address_root}.{DAQ_AGENT}")
        return entry

    def delivered(self) -> tuple[list[dict[str, Any]], int]:
        """The ``feed_info`` of each event the subscriber got, less those whose records it
        had all got already (an event sent again after a lost connection, which a recorder
        drops), and how many of those there were."""
        seen: set[int] = set()
        fresh, repeated = [], 0
        for _, info in list(self.listener.events):
            numbers = set(range(info["seq_no"], info["seq_no"] + info["seq_count"]))
            if numbers <= seen:
                repeated += 1
            else:
                fresh.append(info)
            seen |= numbers
        return fresh, repeated

    def partition(self, only_from: Host | None = None) -> None:
        """Cut the DAQ host off the hub host; with `only_from`, only what that host sends
        to the other is lost."""
        if only_from is None:
            self.network.partition(self.daq, self.hub_host)
        else:
            other = self.hub_host if only_from is self.daq else self.daq
            self.network.partition(only_from, other, one_way=True)

    def heal(self) -> None:
        self.network.heal()

    def agent_log_times(self, words: str, since: float) -> list[float]:
        """When the DAQ agent logged `words` at `since` (UNIX s) or later."""
        text = self.agents[DAQ_AGENT].output()
        return [t for t in log_times(text, words) if t >= since]

    def finish(self) -> Outcome:
        """Stop acquisition, wait until the feed, the subscriber and the recorder have
        everything, stop the recorder; what each has."""
        assert self.request(DAQ_AGENT, "stop", "acq").ok
        sent = int(self.request(DAQ_AGENT, "wait", "acq").session["data"]["samples_sent"])
        feed = wait_until(
            lambda: (f := self.feed_state())["unacknowledged"] == 0 and f["pending"] == 0 and f,
            60,
            0.2,
            message="the feed to deliver everything",
        )

        def received() -> int:
            return sum(i["seq_count"] for i in self.delivered()[0])

        wait_until(
            lambda: received() + feed["dropped"] >= feed["next_seq_no"],
            60,
            0.2,
            message="the subscriber to get every record",
        )
        recorder = self.finish_recording(sent)
        fresh, repeated = self.delivered()
        return Outcome(sent, feed["next_seq_no"], feed["dropped"], fresh, repeated, recorder)

    def finish_recording(self, sent: int) -> dict[str, Any]:
        """Wait until the recorder wrote all `sent` samples, stop it; its session data."""
        recorder: dict[str, Any] = wait_until(
            lambda: (
                (d := self.request(RECORDER, "status", "record").session["data"])
                and d["intake"]["samples"] >= sent
                and d["pending"] == 0
                and d
            ),
            60,
            0.2,
            message="the recorder to write every sample",
        )
        assert self.request(RECORDER, "stop", "record").ok
        self.request(RECORDER, "wait", "record")
        return recorder

    def close(self) -> None:
        for host, client in self._clients.values():
            with contextlib.suppress(Exception):
                host.run(client.close(), 5)
        for proc in self.agents.values():
            proc.stop()
        self.hub.hub.stop()
