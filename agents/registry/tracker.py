"""Which agents are alive: heartbeats in, per-agent states out (no I/O)."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from socs_like.ops import OpCode


@dataclass
class AgentState:
    agent_address: str
    agent_class: str = ""
    last_updated: float = 0.0
    expired: bool = False
    time_expired: float | None = None
    op_codes: dict[str, int] = field(default_factory=dict)

    def encoded(self) -> dict[str, Any]:
        return {
            "agent_address": self.agent_address,
            "agent_class": self.agent_class,
            "last_updated": self.last_updated,
            "expired": self.expired,
            "time_expired": self.time_expired,
            "op_codes": dict(self.op_codes),
        }


class Tracker:
    """Agents are expired after `wait_time` seconds without a heartbeat; their op codes then
    read EXPIRED, as OCS's registry reports them."""

    def __init__(self, wait_time: float = 5.0) -> None:
        self.wait_time = wait_time
        self.agents: dict[str, AgentState] = {}
        self._sent: dict[str, dict[str, int]] = {}  # address -> op codes last due
        self._all_sent_at = -math.inf

    def beat(self, agent_address: str, op_codes: Any, now: float, agent_class: str = "") -> bool:
        """Take a heartbeat; True when it brings back an agent that was expired."""
        if not isinstance(op_codes, dict):
            return False  # not a heartbeat we understand; the registry counts these
        state = self.agents.setdefault(agent_address, AgentState(agent_address))
        back = state.expired
        state.last_updated = now
        state.agent_class = agent_class or state.agent_class
        state.expired = False
        state.time_expired = None
        state.op_codes = {str(k): int(v) for k, v in op_codes.items() if isinstance(v, int)}
        return back

    def update(self, now: float) -> list[str]:
        """Expire silent agents; returns the addresses that expired just now."""
        newly = []
        for state in self.agents.values():
            if not state.expired and now - state.last_updated > self.wait_time:
                state.expired = True
                state.time_expired = now
                state.op_codes = {k: int(OpCode.EXPIRED) for k in state.op_codes}
                newly.append(state.agent_address)
        return newly

    def due(self, now: float) -> list[AgentState]:
        """The agents whose op codes go on the feed now: each one whose codes changed since
        they last went, and all of them once per `wait_time`, as OCS's registry publishes
        (a heartbeat or an expiry replaces an agent's op codes, never edits them)."""
        everyone = now - self._all_sent_at >= self.wait_time
        if everyone:
            self._all_sent_at = now
        due = [
            state
            for address, state in self.agents.items()
            if everyone or self._sent.get(address) != state.op_codes
        ]
        for state in due:
            self._sent[state.agent_address] = state.op_codes
        return due


@functools.lru_cache(maxsize=4096)  # the same few hundred names, every pass
def field_name(text: str) -> str:
    """A feed field name made from an address or op name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if name[:1].isalpha() or name[:1] == "_" else f"_{name}"
