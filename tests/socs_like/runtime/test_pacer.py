"""The agent's pace (runtime/pacer.py): a beat once an interval, a turn when asked."""

from __future__ import annotations

import asyncio
import math
import threading

from socs_like.runtime.pacer import Pacer


def test_a_beat_first_then_turns_when_asked_from_the_loop_or_a_thread():
    async def scenario() -> list[str]:
        seen: list[str] = []
        turned = asyncio.Event()

        def turn(now: float) -> float:
            seen.append("turn")
            turned.set()
            return math.inf  # nothing waits: only a request brings the next turn

        pacer = Pacer(beat=lambda now: seen.append("beat"), turn=turn, interval=3600)
        pacer.request()  # before start: nobody to wake, and no harm
        pacer.start()
        for ask in (pacer.request, lambda: threading.Thread(target=pacer.request).start()):
            await asyncio.wait_for(turned.wait(), 10)
            turned.clear()
            ask()
        await asyncio.wait_for(turned.wait(), 10)
        pacer.stop()
        return seen

    assert asyncio.run(scenario()) == ["beat", "turn", "turn", "turn"]


def test_a_request_made_during_a_turn_brings_another_turn():
    async def scenario() -> int:
        turns = 0
        third = asyncio.Event()

        def turn(now: float) -> float:
            nonlocal turns
            turns += 1
            if turns < 3:
                pacer.request()  # as a session push publishing on the sessions feed does
            else:
                third.set()
            return math.inf

        pacer = Pacer(beat=lambda now: None, turn=turn, interval=3600)
        pacer.start()
        await asyncio.wait_for(third.wait(), 10)
        pacer.stop()
        return turns

    assert asyncio.run(scenario()) == 3


def test_the_beat_comes_once_an_interval_on_the_given_clock():
    async def scenario() -> list[float]:
        beats: list[float] = []
        now = [0.0]
        fourth = asyncio.Event()

        def beat(at: float) -> None:
            beats.append(at)
            if len(beats) == 4:
                fourth.set()

        def turn(at: float) -> float:
            now[0] += 0.5  # each turn the clock moves half an interval
            return 0.0

        pacer = Pacer(beat=beat, turn=turn, interval=1.0, clock=lambda: now[0])
        pacer.start()
        await asyncio.wait_for(fourth.wait(), 10)
        pacer.stop()
        return beats

    assert asyncio.run(scenario()) == [0.0, 1.0, 2.0, 3.0]
