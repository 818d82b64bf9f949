"""socs_like: agents for running and watching data acquisition, wire-compatible with OCS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ops import OpCode, OpFailed, OpSession, ParamError, ResponseCode, param

if TYPE_CHECKING:
    from .agent import Agent
    from .feed import Feed

__all__ = [
    "Agent",
    "Feed",
    "OpCode",
    "OpFailed",
    "OpSession",
    "ParamError",
    "ResponseCode",
    "param",
]


def __getattr__(name: str) -> Any:
    # Agent and Feed bring in Twisted's autobahn; clients (asyncio) must not pay for that.
    if name == "Agent":
        from .agent import Agent

        return Agent
    if name == "Feed":
        from .feed import Feed

        return Feed
    raise AttributeError(name)
