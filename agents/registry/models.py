"""What Registry puts in session data and on its feed (typed, so a reader can rely on them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tracker import AgentState, field_name


@dataclass(frozen=True)
class MainData:
    """Session data of ``main``: OCS's shape, one entry per agent address (an address always
    holds a dot, so the ``bad_heartbeats`` key cannot clash with one)."""

    agents: dict[str, AgentState]  # agent address -> its state
    bad_heartbeats: int  # heartbeats (and op sets) that could not be read or published

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {address: s.encoded() for address, s in self.agents.items()}
        data["bad_heartbeats"] = self.bad_heartbeats
        return data


@dataclass(frozen=True)
class OperationsBlock:
    """One message of the recorded feed ``agent_operations``: one agent's op codes."""

    block_name: str  # the agent's address, made field-safe
    timestamp: float  # UNIX time (s) of the registry's pass
    data: dict[str, int]  # field-safe "<address>_<op>" -> OpCode number

    @classmethod
    def of(cls, state: AgentState, now: float) -> OperationsBlock:
        address = state.agent_address
        return cls(
            block_name=field_name(address),
            timestamp=now,
            data={field_name(f"{address}_{op}"): code for op, code in state.op_codes.items()},
        )

    def as_dict(self) -> dict[str, Any]:
        return {"block_name": self.block_name, "timestamp": self.timestamp, "data": self.data}
