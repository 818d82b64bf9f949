"""The facade's wiring (socs_like/agent.py) with the hub away: the beat, the session pushes
and the feeds run all the same, and wait in the bounded buffers until a hub is joined."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from socs_like import Agent, OpSession
from socs_like.ops import OpCode
from socs_like.testing.inprocess import hubless_settings


async def _count(session: OpSession, params: dict[str, Any]) -> tuple[bool, str]:
    session.set_status("running")
    n = 0
    while not await session.sleep(0.05):
        n += 1
        session.data["n"] = n  # a data change: no message, so only the beat pushes it
    return True, "stopped"


def test_data_changes_of_a_running_op_are_pushed_with_the_beat_while_the_hub_is_away():
    settings = dataclasses.replace(hubless_settings("facade1"), session_data_interval=1.0)
    agent = Agent(settings, agent_class="Counter")
    agent.register_process("count", _count)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, int]], int]:
        running = asyncio.ensure_future(agent.run())
        started = agent.ops_handler("start", "count")
        assert isinstance(started, list) and started[1] == 'Started process "count".'
        pushed: list[dict[str, Any]] = []
        beats: list[dict[str, int]] = []
        for _ in range(200):  # up to 10 s: the data is due a second after the first push
            pushed += [p for p, _ in agent.feeds["sessions"].take_events()]
            beats += [p for p, _ in agent.feeds["heartbeat"].take_events()]
            if any(p.get("data", {}).get("n", 0) >= 2 for p in pushed):
                break
            await asyncio.sleep(0.05)
        agent.shutdown()
        return pushed, beats, await running

    pushed, beats, code = asyncio.run(scenario())
    assert code == 0
    assert pushed[0]["status"] in ("starting", "running")  # changes of a moment: one push
    assert any(p["data"].get("n", 0) >= 2 for p in pushed), pushed
    assert beats and beats[-1] == {"count": OpCode.RUNNING}
