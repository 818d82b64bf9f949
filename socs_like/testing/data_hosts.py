"""A site whose data crosses hosts over SSH (network namespaces, see `socs_like.testing.netns`).

`DataHosts.start` makes three hosts: ``hub`` runs the hub (and the DAQ worker agent); ``daq``
plays the readout server and the DAQ machine; ``archive`` plays the archive host and the
cluster's head node. Each of
``daq`` and ``archive`` runs a real sshd on its own address (`SshServer`, port 22 of its
namespace, alias = the host's name in its ``ssh_config``), so a copy between them crosses the
router where `Network.partition` and `Network.limit_rate` act. `spawn` starts an agent
process on a host, reaching the hub at the hub host's address; `request` calls it from the
hub host.

One `DataHosts` serves a whole test module (``tests/socs_like/test_hosts_data.py``): the
agents each test starts are stopped by the test (`stop`), the hosts, sshds and hub at the end.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socs_like.client import AsyncClient, Reply

from .hub import AgentProcess, HubInfo, spawn_agent_on, start_hub
from .netns import Host, Network
from .sshd_server import SshServer

HUB_PORT = 8001
SSH_PORT = 22


@dataclass
class DataHosts:
    network: Network
    hub_host: Host
    daq: Host
    archive: Host
    hub: HubInfo
    folder: Path
    sshd: dict[str, SshServer] = field(default_factory=dict)
    agents: dict[str, AgentProcess] = field(default_factory=dict)
    _clients: dict[str, AsyncClient] = field(default_factory=dict)

    @classmethod
    def start(cls, network: Network, folder: Path) -> DataHosts:
        hub_host, daq, archive = (network.add_host(n) for n in ("hub", "daq", "archive"))
        hub = hub_host.call(start_hub, folder / "hub", HUB_PORT, hub_host.address)
        site = cls(network, hub_host, daq, archive, hub, folder)
        try:
            for host in (daq, archive):
                server = SshServer(
                    folder / f"sshd-{host.name}", alias=host.name, host=host.address, port=SSH_PORT
                )
                host.call(server.start)  # sshd's sockets are the host's
                site.sshd[host.name] = server
        except BaseException:
            site.close()
            raise
        return site

    def spawn(self, host: Host, agent_class: str, instance_id: str, args: list[str]) -> None:
        """Start an agent process on `host`; return once it answers."""
        log = self.folder / f"{instance_id}.log"
        spawn_agent_on(host, self.hub, agent_class, instance_id, log, args, self.agents)

    def request(
        self, instance_id: str, action: str, op_name: str, params: dict[str, Any] | None = None
    ) -> Reply:
        """One ops call from the hub host."""
        if instance_id not in self._clients:
            self._clients[instance_id] = AsyncClient(instance_id, hub_url=self.hub.url, timeout=5.0)
        client = self._clients[instance_id]
        reply: Reply = self.hub_host.run(client.request(action, op_name, params), 30)
        return reply

    def stop(self, instance_id: str) -> None:
        self.agents.pop(instance_id).stop()
        client = self._clients.pop(instance_id, None)
        if client is not None:
            with contextlib.suppress(Exception):
                self.hub_host.run(client.close(), 5)

    def close(self) -> None:
        for instance_id in list(self.agents):
            self.stop(instance_id)
        for server in self.sshd.values():
            server.stop()
        self.hub.hub.stop()
