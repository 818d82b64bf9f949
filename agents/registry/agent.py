"""Registry: follows every agent's heartbeat and says which are alive."""

from __future__ import annotations

import time
from typing import Any

from socs_like import Agent, OpSession

from . import options
from .models import MainData, OperationsBlock
from .tracker import Tracker

READ_EVERY = 0.1  # s: how often the registry reads the heartbeats that came meanwhile


class Registry:
    """Registry: tracks the heartbeats of all agents under the address root.

    Process ``main`` (started at start-up) keeps, in its session data, one entry per agent
    address with ``expired``, ``last_updated`` and ``op_codes``, and publishes the op codes on
    the recorded feed ``agent_operations``: an agent's within a second of a change, and
    everyone's once per ``--wait-time``.
    """

    Options = options.Options

    def __init__(self, agent: Agent, settings: options.Options) -> None:
        self.agent = agent
        self.tracker = Tracker(settings.wait_time)
        self.bad_heartbeats = 0
        self._back: list[str] = []  # expired agents heard again since main's last pass
        self.feed = agent.register_feed(
            "agent_operations", record=True, agg_params={"frame_length": 60}
        )
        agent.subscribe(
            f"{agent.address_root}..feeds.heartbeat", self._on_heartbeat, match="wildcard"
        )
        # every agent's heartbeat, each second: a tenth of a second late is soon enough
        agent.read_hub_every(READ_EVERY)
        agent.register_process("main", self.main, startup=True)

    def _on_heartbeat(self, payload: Any, feed_info: dict[str, Any]) -> None:
        address = feed_info.get("agent_address")
        if not isinstance(address, str) or not isinstance(payload, dict):
            self.bad_heartbeats += 1
            return
        if self.tracker.beat(address, payload, time.time(), str(feed_info.get("agent_class", ""))):
            self._back.append(address)

    async def main(self, session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
        """main(): expire silent agents and publish their states until stopped."""
        session.set_status("running")
        while True:
            now = time.time()
            for address in self.tracker.update(now):
                session.add_message(
                    f"{address} expired: no heartbeat for {self.tracker.wait_time:.0f} s"
                )
            # A message, so that the verdict goes out at once, not after the data interval
            # (the dashboard shows the registry's verdict before its own).
            for address in self._back:
                if not self.tracker.agents[address].expired:
                    session.add_message(f"{address} is back: heartbeats again")
            self._back.clear()
            session.data = MainData(dict(self.tracker.agents), self.bad_heartbeats).as_dict()
            for state in self.tracker.due(now):
                if not state.op_codes:
                    continue
                try:
                    self.feed.publish(OperationsBlock.of(state, now).as_dict())
                except ValueError as exc:  # an agent whose set of operations changed
                    self.bad_heartbeats += 1
                    session.add_message(f"{state.agent_address}: not published: {exc}")
            if await session.sleep(1.0):
                return True, "Registry stopped."
