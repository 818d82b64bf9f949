"""A recorder's ear on the hub, the same in both recorders: one wildcard subscription to
every feed of the site (``<root>..feeds.``, agents that start later included), the events
its `FeedIntake` keeps handed to the recorder, and catching up (`catchup`) when ``record``
starts and each time the recorder re-joins the hub while it records."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from socs_like import Agent

from .catchup import CatchUp
from .intake import Block, FeedIntake

# what the recorder does with the blocks the intake kept of one event, received at a time
Keep = Callable[[list[Block], float], None]


class Listener:
    """Hands `keep` the blocks of each recorded event while started (events that come while
    ``record`` is not running are not taken: the intake counts them missed when it starts)."""

    def __init__(self, agent: Agent, intake: FeedIntake, keep: Keep) -> None:
        self.intake, self.keep = intake, keep
        self.recording = False
        agent.subscribe(f"{agent.address_root}..feeds.", self.on_event, match="wildcard")
        agent.on_hub_lost(intake.away)
        self.catch_up = CatchUp(agent, intake, self.on_event)
        agent.on_hub_joined(self._joined)

    def start(self) -> None:
        """``record`` runs: take events, and ask the publishers for what went by before."""
        self.recording = True
        self.catch_up.start()

    def stop(self) -> None:
        self.recording = False

    def _joined(self) -> None:
        if self.recording:  # else `start` asks
            self.catch_up.start()

    def on_event(self, payload: Any, feed_info: dict[str, Any]) -> None:
        if not self.recording:
            return
        received = time.time()
        blocks = self.intake.take(payload, feed_info, received)
        self.catch_up.after_take()
        if blocks:
            self.keep(blocks, received)
